//! Ansible's `random` filter: `end | random(start=0, step=1, seed=None)` picks from
//! `range(start, end, step)`, `list | random` picks an item. With a `seed` the pick must be the
//! one Python's `random.Random(seed)` makes (playbooks use `59 | random(seed=inventory_hostname)`
//! for a stable cron minute per host, and hosts converged by Ansible must stay unchanged), so
//! this is Python's generator: MT19937 seeded by `init_by_array`, a string seed extended with
//! its SHA-512, and `randrange`/`choice` drawing with rejection sampling on `getrandbits`.

use super::filters_strings::{text, IterValue};
use super::op_err;
use minijinja::value::{Kwargs, Rest, Value as MjValue, ValueKind};
use minijinja::{Environment, Error, State};
use sha2::{Digest, Sha512};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("random", random);
    env.add_filter("shuffle", shuffle);
}

/// `list | shuffle(seed=None)`: a shuffled copy. With a seed, the order Python's
/// `Random(seed).shuffle` gives (Fisher-Yates from the end, `_randbelow(i + 1)` per step), so
/// hosts converged by Ansible keep their order.
fn shuffle(
    state: &State,
    v: &MjValue,
    seed: Option<MjValue>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let seed = match seed {
        Some(s) => Some(s),
        None => kwargs.get::<Option<MjValue>>("seed")?,
    }
    .filter(|s| !s.is_none());
    kwargs.assert_all_used()?;
    let mut items = state.undefined_behavior().try_iter_value(v)?;
    let mut rng = seed.as_ref().map(PyRandom::seeded).transpose()?;
    for i in (1..items.len()).rev() {
        let j = below(&mut rng, i as u64 + 1)? as usize;
        items.swap(i, j);
    }
    Ok(MjValue::from(items))
}

const N: usize = 624;

/// Python's `random.Random` core (MT19937).
pub(super) struct PyRandom {
    mt: [u32; N],
    index: usize,
}

impl PyRandom {
    /// `init_by_array(key)`, as `random.seed` does for an integer's 32-bit words.
    fn from_key(key: &[u32]) -> PyRandom {
        let mut mt = [0u32; N];
        mt[0] = 19_650_218;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        PyRandom { mt, index: N }
    }

    /// `random.Random(seed)` for an integer (its absolute value) or a string.
    pub(super) fn seeded(seed: &MjValue) -> Result<PyRandom, Error> {
        let bytes: Vec<u8> = if seed.kind() == ValueKind::Number && seed.is_integer() {
            let n = i128::try_from(seed.clone()).map_err(|e| op_err(e.to_string()))?;
            n.unsigned_abs().to_be_bytes().to_vec()
        } else {
            // Version 2 seeding: the text's bytes followed by their SHA-512, as one integer.
            let mut b = text(seed)?.into_bytes();
            let digest = Sha512::digest(&b);
            b.extend_from_slice(&digest);
            b
        };
        // The integer's 32-bit words, least significant first; zero is one zero word.
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let significant = &bytes[start..];
        let mut key: Vec<u32> = significant
            .rchunks(4)
            .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
            .collect();
        if key.is_empty() {
            key.push(0);
        }
        Ok(PyRandom::from_key(&key))
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            for k in 0..N {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % N] & 0x7fff_ffff);
                let mut v = self.mt[(k + 397) % N] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.mt[k] = v;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `getrandbits(k)` for k ≤ 64: 32-bit words, least significant first, the last one cut.
    fn getrandbits(&mut self, k: u32) -> u64 {
        if k <= 32 {
            return u64::from(self.next_u32() >> (32 - k));
        }
        let low = u64::from(self.next_u32());
        let high = u64::from(self.next_u32() >> (64 - k));
        (high << 32) | low
    }

    /// `_randbelow(n)`: draw `n.bit_length()` bits until the value is below `n`.
    fn below(&mut self, n: u64) -> u64 {
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }
}

/// A number below `n` from the seeded generator, or from the OS without a seed.
pub(super) fn below(rng: &mut Option<PyRandom>, n: u64) -> Result<u64, Error> {
    match rng {
        Some(r) => Ok(r.below(n)),
        None => {
            let mut buf = [0u8; 8];
            getrandom(&mut buf)?;
            // Rejection sampling keeps the OS draw uniform too.
            let zone = u64::MAX - u64::MAX % n;
            let mut v = u64::from_le_bytes(buf);
            while v >= zone {
                getrandom(&mut buf)?;
                v = u64::from_le_bytes(buf);
            }
            Ok(v % n)
        }
    }
}

fn getrandom(buf: &mut [u8]) -> Result<(), Error> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|e| op_err(format!("random: no system randomness: {e}")))
}

fn arg(
    args: &Rest<MjValue>,
    kwargs: &Kwargs,
    i: usize,
    name: &str,
) -> Result<Option<MjValue>, Error> {
    match args.get(i) {
        Some(v) => Ok(Some(v.clone())),
        None => kwargs.get::<Option<MjValue>>(name),
    }
}

/// `end | random(start=None, step=None, seed=None)`.
fn random(
    state: &State,
    end: &MjValue,
    args: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let start = arg(&args, &kwargs, 0, "start")?.filter(|v| v.is_true());
    let step = arg(&args, &kwargs, 1, "step")?.filter(|v| v.is_true());
    let seed = arg(&args, &kwargs, 2, "seed")?.filter(|v| !v.is_none());
    kwargs.assert_all_used()?;
    let mut rng = seed.as_ref().map(PyRandom::seeded).transpose()?;
    if end.kind() == ValueKind::Number && end.is_integer() {
        let int = |v: Option<MjValue>, default: i64| -> Result<i64, Error> {
            v.map_or(Ok(default), |v| {
                i64::try_from(v).map_err(|e| op_err(e.to_string()))
            })
        };
        let (start, step) = (int(start, 0)?, int(step, 1)?);
        let stop = i64::try_from(end.clone()).map_err(|e| op_err(e.to_string()))?;
        let width = i128::from(stop) - i128::from(start);
        let n = match step {
            0 => return Err(op_err("zero step for randrange()")),
            s if s > 0 => (width + i128::from(s) - 1).div_euclid(i128::from(s)),
            s => (width + i128::from(s) + 1).div_euclid(i128::from(s)),
        };
        if n <= 0 {
            return Err(op_err(format!(
                "empty range for randrange() ({start}, {stop}, {step})"
            )));
        }
        let pick = below(&mut rng, n as u64)?;
        return Ok(MjValue::from(
            i128::from(start) + i128::from(step) * pick as i128,
        ));
    }
    if start.is_some() || step.is_some() {
        return Err(op_err(
            "start and step can only be used with integer values",
        ));
    }
    if matches!(
        end.kind(),
        ValueKind::Seq | ValueKind::Iterable | ValueKind::String | ValueKind::Map
    ) {
        let items = state.undefined_behavior().try_iter_value(end)?;
        if items.is_empty() {
            return Err(op_err("Cannot choose from an empty sequence"));
        }
        let i = below(&mut rng, items.len() as u64)?;
        return Ok(items[i as usize].clone());
    }
    Err(op_err("random can only be used on sequences and integers"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHUFFLE_NODE1: &str = "4,6,9,7,5,3,2,8,1,10";
    const SHUFFLE_42: &str = "c,b,d,a";

    /// Expected values printed by CPython 3.11's `random.Random(seed)` on this machine.
    #[test]
    fn seeded_draws_match_python() {
        let mut r = PyRandom::seeded(&MjValue::from("node1")).unwrap();
        assert_eq!(r.below(59), 36);
        let mut r = PyRandom::seeded(&MjValue::from("node1.example.com")).unwrap();
        assert_eq!(r.below(59), 8);
        let mut r = PyRandom::seeded(&MjValue::from(42)).unwrap();
        assert_eq!(r.below(100), 81);
        let mut r = PyRandom::seeded(&MjValue::from(0)).unwrap();
        assert_eq!(r.below(10), 6);
        let mut r = PyRandom::seeded(&MjValue::from("x")).unwrap();
        assert_eq!(r.below(4), 2); // choice(['a','b','c','d']) == 'c'
        let mut r = PyRandom::seeded(&MjValue::from("abc")).unwrap();
        assert_eq!(1 + 10 * r.below(10), 81); // randrange(1, 100, 10)
        let mut r = PyRandom::seeded(&MjValue::from((1i64 << 40) + 5)).unwrap();
        assert_eq!(r.below(1 << 40), 64_105_765_088);
    }

    /// `random.Random(seed).shuffle(x)` in CPython 3.11 gave these orders.
    #[test]
    fn seeded_shuffle_matches_python() {
        let env = {
            let mut e = Environment::new();
            register(&mut e);
            e
        };
        let out = |expr: &str| env.render_str(expr, ()).unwrap();
        assert_eq!(
            out("{{ [1,2,3,4,5,6,7,8,9,10] | shuffle(seed='node1') | join(',') }}"),
            SHUFFLE_NODE1
        );
        assert_eq!(
            out("{{ ['a','b','c','d'] | shuffle(seed=42) | join(',') }}"),
            SHUFFLE_42
        );
        // Without a seed: the same items in some order.
        let s = out("{{ [1,2,3,4,5] | shuffle | sort | join(',') }}");
        assert_eq!(s, "1,2,3,4,5");
    }
}
