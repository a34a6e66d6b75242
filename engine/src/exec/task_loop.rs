//! Loop expansion: the items rendered once, then for each item its loop variables
//! (`loop_control`), its own `when`, the action, its result line; the items' results folded
//! into the task's (`LoopTally`).

use super::outcome::{LoopTally, Outcome};
use super::play::PlayRun;
use super::task::TaskRun;
use crate::value::{ansible_bool, to_display_string, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// `loop_control`, read.
#[derive(Clone, Debug, PartialEq)]
struct LoopControl {
    loop_var: String,
    index_var: Option<String>,
    extended: bool,
    /// Seconds between items.
    pause: f64,
    label: Option<Value>,
}

impl LoopControl {
    fn parse(v: Option<&Value>) -> LoopControl {
        let lc = v.and_then(Value::as_object).cloned().unwrap_or_default();
        let text = |k: &str| lc.get(k).and_then(Value::as_str).map(str::to_string);
        LoopControl {
            loop_var: text("loop_var").unwrap_or_else(|| "item".into()),
            index_var: text("index_var"),
            extended: lc.get("extended").and_then(ansible_bool).unwrap_or(false),
            pause: lc
                .get("pause")
                .and_then(|v| v.as_f64().or_else(|| to_display_string(v).parse().ok()))
                .unwrap_or(0.0),
            label: lc.get("label").cloned(),
        }
    }

    /// The variables item `i` of `items` sees.
    fn vars(&self, items: &[Value], i: usize) -> Map {
        let n = items.len();
        let mut lv = Map::new();
        lv.insert(self.loop_var.clone(), items[i].clone());
        lv.insert(
            "ansible_loop_var".into(),
            Value::String(self.loop_var.clone()),
        );
        if let Some(iv) = &self.index_var {
            lv.insert(iv.clone(), Value::from(i));
            lv.insert("ansible_index_var".into(), Value::String(iv.clone()));
        }
        if self.extended {
            lv.insert(
                "ansible_loop".into(),
                serde_json::json!({
                    "index": i + 1, "index0": i, "revindex": n - i, "revindex0": n - i - 1,
                    "first": i == 0, "last": i + 1 == n, "length": n, "allitems": items,
                    "previtem": if i > 0 { items[i - 1].clone() } else { Value::Null },
                    "nextitem": items.get(i + 1).cloned().unwrap_or(Value::Null),
                }),
            );
        }
        lv
    }

    /// What an item's result carries of its loop variables.
    fn mark(&self, result: &mut Map, item: &Value, i: usize) {
        result.insert(self.loop_var.clone(), item.clone());
        result.insert(
            "ansible_loop_var".into(),
            Value::String(self.loop_var.clone()),
        );
        if let Some(iv) = &self.index_var {
            result.insert(iv.clone(), Value::from(i));
        }
    }
}

/// `with_first_found`'s terms rendered one name at a time, names that fail to render left out.
fn first_found_candidates(
    templar: &crate::template::Templar,
    v: &Value,
    ctx: &minijinja::value::Value,
) -> Value {
    match v {
        Value::String(_) => templar.render_value(v, ctx).unwrap_or(Value::Null),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| first_found_candidates(templar, i, ctx))
                .filter(|i| !i.is_null())
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), first_found_candidates(templar, x, ctx)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl PlayRun {
    /// The loop's items, or the outcome that ends the task before any item runs.
    fn loop_items(&self, t: &TaskRun<'_>) -> Result<Vec<Value>, Outcome> {
        let Some(spec) = &t.leaf.task.loop_ else {
            return Ok(Vec::new());
        };
        let ctx = t.scope.ctx();
        let templar = &self.runner.templar;
        let rendered = match spec.kind.as_str() {
            // ansible-core's first_found skips a candidate whose name cannot be rendered
            // (kubespray: `{{ os_release_dict['VARIANT_ID'] }}-….yml` on Debian).
            "first_found" => Ok(first_found_candidates(templar, &spec.value, &ctx)),
            _ => templar.render_value(&spec.value, &ctx),
        };
        let rendered = match rendered {
            Ok(v) => v,
            Err(e) => {
                // A `when` that is false for the whole task (not using the loop var) skips it
                // before the loop is rendered, as Ansible does when the list is undefined.
                self.check_when(t.leaf, &t.scope)?;
                let msg = self.template_error(t.leaf, &t.scope, &e.to_string());
                return Err(Outcome::failed(msg));
            }
        };
        let subdir = super::loops::loop_subdir(&t.leaf.task.action);
        super::loops::items_in(&spec.kind, rendered, &self.search_path(t.leaf), subdir)
            .map_err(Outcome::failed)
    }

    /// Every item of the loop in turn, then the task's aggregate result.
    pub(super) async fn execute_loop(self: &Arc<Self>, t: &TaskRun<'_>) -> Outcome {
        let items = match self.loop_items(t) {
            Ok(i) => i,
            Err(o) => return o,
        };
        let ctl = LoopControl::parse(t.leaf.task.loop_control.as_ref());
        let mut tally = LoopTally::default();
        let mut any_hidden = false;
        for i in 0..items.len() {
            let (o, hidden) = self.execute_item(t, &ctl, &items, i).await;
            any_hidden |= hidden;
            tally.add(o);
            if ctl.pause > 0.0 && i + 1 < items.len() {
                tokio::time::sleep(Duration::from_secs_f64(ctl.pause)).await;
            }
        }
        let mut o = tally.finish();
        let templar = &self.runner.templar;
        if any_hidden
            || items.is_empty() && super::nolog::hidden(&t.leaf.keywords.no_log, &t.scope, templar)
        {
            o.result.insert(super::nolog::KEY.into(), Value::Bool(true));
        }
        o
    }

    /// Item `i`: its `when`, the action, its result line and facts. Returns the outcome and
    /// whether `no_log` hid it.
    async fn execute_item(
        self: &Arc<Self>,
        t: &TaskRun<'_>,
        ctl: &LoopControl,
        items: &[Value],
        i: usize,
    ) -> (Outcome, bool) {
        let templar = &self.runner.templar;
        let item = &items[i];
        let it = self.task_run(t.h, t.leaf, t.inc, Some(Arc::new(ctl.vars(items, i))));
        let label = match &ctl.label {
            Some(l) => templar
                .render_value(l, &it.scope.ctx())
                .unwrap_or_else(|_| item.clone()),
            None => item.clone(),
        };
        let mut o = match self.check_when(t.leaf, &it.scope) {
            Err(o) => o,
            Ok(()) => self.perform(&it).await,
        };
        ctl.mark(&mut o.result, item, i);
        let hidden = super::nolog::hidden(&t.leaf.keywords.no_log, &it.scope, templar);
        if hidden {
            o.result.insert(super::nolog::KEY.into(), Value::Bool(true));
        }
        if !o.uncounted {
            self.emit(&t.host, t.leaf, &o, Some(label), false);
        }
        o.result.remove(super::nolog::KEY);
        // Each item sees the facts the previous items set (set_fact accumulating in a loop).
        self.apply_facts(&t.host, t.leaf, &o.result);
        o.result.remove(super::args::DATA_FACTS);
        (o, hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loop_control_defaults_to_item() {
        let c = LoopControl::parse(None);
        assert_eq!(c.loop_var, "item");
        assert_eq!(c.index_var, None);
        assert!(!c.extended);
        assert_eq!(c.pause, 0.0);
        let v = c.vars(&[json!("a")], 0);
        assert_eq!(
            v,
            json!({"item": "a", "ansible_loop_var": "item"})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
    }

    #[test]
    fn loop_control_names_the_variables() {
        let c = LoopControl::parse(Some(
            &json!({"loop_var": "pkg", "index_var": "n", "pause": "0.5"}),
        ));
        assert_eq!(c.pause, 0.5);
        let v = c.vars(&[json!("a"), json!("b")], 1);
        assert_eq!(v["pkg"], json!("b"));
        assert_eq!(v["n"], json!(1));
        assert_eq!(v["ansible_index_var"], json!("n"));
        let mut r = Map::new();
        c.mark(&mut r, &json!("b"), 1);
        assert_eq!(
            r,
            json!({"pkg": "b", "ansible_loop_var": "pkg", "n": 1})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
    }

    #[test]
    fn extended_loop_variables_describe_the_position() {
        let c = LoopControl::parse(Some(&json!({"extended": true})));
        let items = [json!(1), json!(2), json!(3)];
        let v = c.vars(&items, 1);
        let l = &v["ansible_loop"];
        assert_eq!(l["index"], json!(2));
        assert_eq!(l["revindex0"], json!(1));
        assert_eq!(l["previtem"], json!(1));
        assert_eq!(l["nextitem"], json!(3));
        assert_eq!(l["first"], json!(false));
        assert_eq!(c.vars(&items, 2)["ansible_loop"]["last"], json!(true));
    }
}
