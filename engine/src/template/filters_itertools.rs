//! Ansible's itertools filters: `product`, `permutations`, `combinations`, `zip_longest`.
//! Ansible hands back Python's iterators of tuples (so templates add `| list`); these return
//! the list itself, of [`Tuple`]s, which `| list` keeps as it is.

use super::filters_strings::IterValue;
use super::native::Tuple;
use super::op_err;
use minijinja::value::{Kwargs, Rest, Value as MjValue};
use minijinja::{Environment, Error, State};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("product", product);
    env.add_filter("permutations", permutations);
    env.add_filter("combinations", combinations);
    env.add_filter("zip_longest", zip_longest);
}

fn tuples(rows: Vec<Vec<MjValue>>) -> Vec<MjValue> {
    rows.into_iter().map(Tuple::value).collect()
}

fn items(state: &State, v: &MjValue) -> Result<Vec<MjValue>, Error> {
    state.undefined_behavior().try_iter_value(v)
}

/// `itertools.product(a, *others, repeat=1)`: every tuple taking one item of each input.
fn product(
    state: &State,
    v: &MjValue,
    others: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<Vec<MjValue>, Error> {
    let repeat = kwargs.get::<Option<i64>>("repeat")?.unwrap_or(1);
    kwargs.assert_all_used()?;
    if repeat < 0 {
        return Err(op_err("product: repeat argument cannot be negative"));
    }
    let mut pools = vec![items(state, v)?];
    for o in others.iter() {
        pools.push(items(state, o)?);
    }
    let tuples_n = pools
        .iter()
        .fold(1u128, |acc, p| acc.saturating_mul(p.len() as u128))
        .saturating_pow(u32::try_from(repeat).unwrap_or(u32::MAX));
    let width = (pools.len() as u128).saturating_mul(repeat as u128);
    super::limits::items("product", tuples_n.saturating_mul(width.max(1)))?;
    let pools: Vec<Vec<MjValue>> = (0..repeat).flat_map(|_| pools.clone()).collect();
    let mut out: Vec<Vec<MjValue>> = vec![Vec::new()];
    for pool in &pools {
        out = out
            .iter()
            .flat_map(|prefix| {
                pool.iter().map(move |item| {
                    let mut t = prefix.clone();
                    t.push(item.clone());
                    t
                })
            })
            .collect();
    }
    Ok(tuples(out))
}

/// `itertools.permutations(items, r=None)`: ordered picks of `r` distinct positions, in
/// lexicographic order of positions.
fn permutations(
    state: &State,
    v: &MjValue,
    args: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<Vec<MjValue>, Error> {
    let pool = items(state, v)?;
    let r = match args.first() {
        Some(r) if r.is_none() => None,
        Some(r) => Some(i64::try_from(r.clone())?),
        None => kwargs.get::<Option<i64>>("r")?,
    };
    kwargs.assert_all_used()?;
    let r = match r {
        Some(r) if r < 0 => return Err(op_err("permutations: r must be non-negative")),
        Some(r) => r as usize,
        None => pool.len(),
    };
    let n = super::limits::permutations(pool.len() as u128, r as u128);
    super::limits::items("permutations", n.saturating_mul((r as u128).max(1)))?;
    let mut out = Vec::new();
    if r <= pool.len() {
        let mut used = vec![false; pool.len()];
        let mut cur = Vec::with_capacity(r);
        permute(&pool, r, &mut used, &mut cur, &mut out);
    }
    Ok(tuples(out))
}

fn permute(
    pool: &[MjValue],
    r: usize,
    used: &mut [bool],
    cur: &mut Vec<MjValue>,
    out: &mut Vec<Vec<MjValue>>,
) {
    if cur.len() == r {
        out.push(cur.clone());
        return;
    }
    for i in 0..pool.len() {
        if !used[i] {
            used[i] = true;
            cur.push(pool[i].clone());
            permute(pool, r, used, cur, out);
            cur.pop();
            used[i] = false;
        }
    }
}

/// `itertools.combinations(items, r)`: picks of `r` positions in increasing order.
fn combinations(
    state: &State,
    v: &MjValue,
    args: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<Vec<MjValue>, Error> {
    let pool = items(state, v)?;
    let r = match args.first() {
        Some(r) => i64::try_from(r.clone())?,
        None => kwargs
            .get::<Option<i64>>("r")?
            .ok_or_else(|| op_err("combinations() missing required argument 'r'"))?,
    };
    kwargs.assert_all_used()?;
    if r < 0 {
        return Err(op_err("combinations: r must be non-negative"));
    }
    let n = super::limits::combinations(pool.len() as u128, r as u128);
    super::limits::items("combinations", n.saturating_mul((r as u128).max(1)))?;
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity((r as usize).min(pool.len()));
    combine(&pool, r as usize, 0, &mut cur, &mut out);
    Ok(tuples(out))
}

fn combine(
    pool: &[MjValue],
    r: usize,
    start: usize,
    cur: &mut Vec<MjValue>,
    out: &mut Vec<Vec<MjValue>>,
) {
    if cur.len() == r {
        out.push(cur.clone());
        return;
    }
    for i in start..pool.len() {
        cur.push(pool[i].clone());
        combine(pool, r, i + 1, cur, out);
        cur.pop();
    }
}

/// `itertools.zip_longest(a, *others, fillvalue=None)`: tuples up to the longest input, the
/// shorter ones padded with `fillvalue`.
fn zip_longest(
    state: &State,
    v: &MjValue,
    others: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<Vec<MjValue>, Error> {
    let fill = kwargs
        .get::<Option<MjValue>>("fillvalue")?
        .unwrap_or(MjValue::from(()));
    kwargs.assert_all_used()?;
    let mut lists = vec![items(state, v)?];
    for o in others.iter() {
        lists.push(items(state, o)?);
    }
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..longest)
        .map(|i| {
            Tuple::value(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                    .collect(),
            )
        })
        .collect())
}
