//! Turns saphyr-parser's event stream into [`Node`] trees with a [`Span`] on every node.
//!
//! The builder keeps an explicit stack instead of recursing, so input depth can never overflow
//! the Rust stack; depth is also capped ([`MAX_DEPTH`]) so that later recursive walks over the
//! tree (`to_value`, `Drop`) stay shallow. Anchors and aliases copy nodes, and every copy is
//! charged to a budget ([`MAX_COPIED_NODES`]) so an alias bomb is refused instead of eating memory.

use super::scalar;
use super::{Node, NodeKind, YamlError};
use crate::span::Span;
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Tag};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Deepest nesting of maps and sequences accepted. Real playbooks rarely pass 20.
pub const MAX_DEPTH: usize = 512;

/// Most nodes that anchors and aliases may copy in one stream (billion-laughs guard).
pub const MAX_COPIED_NODES: usize = 1_000_000;

/// Every document of a stream plus the warnings found while building them.
#[derive(Debug, Default)]
pub struct Loaded {
    pub docs: Vec<Node>,
    /// Human-readable warnings such as `file:3: duplicate key 'name'`.
    pub warnings: Vec<String>,
}

/// Parse `src` (named `file` in spans) into documents.
pub fn load(src: &str, file: &str) -> Result<Loaded, YamlError> {
    let file: Arc<str> = Arc::from(file);
    check_printable(src, &file)?;
    // saphyr-parser is third-party code fed with user input; should it ever panic, the user
    // gets an error naming the file rather than a crash.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Builder::new(file.clone()).run(src)
    }));
    match run {
        Ok(result) => result,
        Err(_) => Err(YamlError {
            span: Span::file_only(file),
            msg: "internal error in the YAML parser on this input".into(),
        }),
    }
}

/// YAML (and PyYAML's reader) refuse control characters other than tab and line breaks; NUL
/// bytes are the usual sign of a binary file given by mistake.
fn check_printable(src: &str, file: &Arc<str>) -> Result<(), YamlError> {
    let (mut line, mut col) = (1usize, 1usize);
    for c in src.chars() {
        let ok = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        if !ok {
            return Err(YamlError {
                span: Span::new(file.clone(), line, col),
                msg: format!("unacceptable character #x{:04x}: control characters are not allowed (is this a binary file?)", c as u32),
            });
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    Ok(())
}

/// A finished node with what the limits need to know about it.
#[derive(Clone)]
struct Built {
    node: Node,
    /// Nodes in the subtree, itself included.
    size: usize,
    /// Collection levels below this node (0 for a scalar).
    height: usize,
    /// A plain, untagged `<<` scalar: a merge key when it sits in key position.
    merge_key: bool,
}

enum Collection {
    Seq(Vec<Node>),
    Map {
        pairs: Vec<(Node, Node)>,
        /// Values of `<<` keys, in document order.
        merges: Vec<Node>,
        key: Option<(Node, bool)>,
    },
}

struct Frame {
    span: Span,
    anchor: usize,
    body: Collection,
    size: usize,
    height: usize,
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Built>,
    open_anchors: HashSet<usize>,
    copied: usize,
    root: Option<Node>,
    out: Loaded,
}

impl Builder {
    fn new(file: Arc<str>) -> Self {
        Builder {
            file,
            stack: Vec::new(),
            anchors: HashMap::new(),
            open_anchors: HashSet::new(),
            copied: 0,
            root: None,
            out: Loaded::default(),
        }
    }

    fn run(mut self, src: &str) -> Result<Loaded, YamlError> {
        for item in Parser::new_from_str(src) {
            let (event, span) = item.map_err(|e| self.scan_error(&e))?;
            let at = Span::new(self.file.clone(), span.start.line(), span.start.col() + 1);
            self.event(event, at)?;
        }
        Ok(self.out)
    }

    fn scan_error(&self, e: &ScanError) -> YamlError {
        let m = e.marker();
        YamlError {
            span: Span::new(self.file.clone(), m.line(), m.col() + 1),
            msg: format!("invalid YAML: {}", e.info()),
        }
    }

    fn err(&self, span: &Span, msg: impl Into<String>) -> YamlError {
        YamlError {
            span: span.clone(),
            msg: msg.into(),
        }
    }

    fn event(&mut self, event: Event<'_>, at: Span) -> Result<(), YamlError> {
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(_) => {
                self.anchors.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                let doc = self.root.take().unwrap_or(Node {
                    kind: NodeKind::Null,
                    span: at,
                });
                self.out.docs.push(doc);
            }
            Event::Alias(id) => self.alias(id, at)?,
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.as_deref().map(tag_name);
                let merge_key = style == ScalarStyle::Plain && tag.is_none() && text == "<<";
                let kind =
                    scalar_kind(&text, style, tag.as_deref()).map_err(|m| self.err(&at, m))?;
                let built = Built {
                    node: Node { kind, span: at },
                    size: 1,
                    height: 0,
                    merge_key,
                };
                self.finish(built, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                let tag = tag.as_deref().map(tag_name);
                self.check_collection_tag(tag.as_deref(), "!!seq", "a sequence", &at)?;
                self.open(at, anchor, Collection::Seq(Vec::new()))?;
            }
            Event::MappingStart(anchor, tag) => {
                let tag = tag.as_deref().map(tag_name);
                self.check_collection_tag(tag.as_deref(), "!!map", "a mapping", &at)?;
                self.open(
                    at,
                    anchor,
                    Collection::Map {
                        pairs: Vec::new(),
                        merges: Vec::new(),
                        key: None,
                    },
                )?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(&at)?,
        }
        Ok(())
    }

    fn check_collection_tag(
        &self,
        tag: Option<&str>,
        own: &str,
        what: &str,
        at: &Span,
    ) -> Result<(), YamlError> {
        match tag {
            None | Some("!") | Some("!unsafe") => Ok(()),
            Some(t) if t == own => Ok(()),
            Some("!vault") => Err(self.err(at, VAULT_MSG)),
            Some(t) if KNOWN_SCALAR_TAGS.contains(&t) => {
                Err(self.err(at, format!("tag {t} cannot be applied to {what}")))
            }
            Some(t) => Err(self.err(at, format!("unsupported YAML tag {t}"))),
        }
    }

    fn open(&mut self, span: Span, anchor: usize, body: Collection) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.err(&span, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        if anchor != 0 {
            self.open_anchors.insert(anchor);
        }
        self.stack.push(Frame {
            span,
            anchor,
            body,
            size: 1,
            height: 1,
        });
        Ok(())
    }

    fn close(&mut self, at: &Span) -> Result<(), YamlError> {
        let Some(frame) = self.stack.pop() else {
            return Err(self.err(at, "end of a collection that was never opened"));
        };
        self.open_anchors.remove(&frame.anchor);
        let kind = match frame.body {
            Collection::Seq(items) => NodeKind::Seq(items),
            Collection::Map { pairs, merges, key } => {
                if let Some((k, _)) = key {
                    return Err(self.err(&k.span, "mapping key without a value"));
                }
                NodeKind::Map(self.merge_and_dedupe(pairs, merges)?)
            }
        };
        let built = Built {
            node: Node {
                kind,
                span: frame.span,
            },
            size: frame.size,
            height: frame.height,
            merge_key: false,
        };
        self.finish(built, frame.anchor)
    }

    fn alias(&mut self, id: usize, at: Span) -> Result<(), YamlError> {
        if self.open_anchors.contains(&id) {
            return Err(self.err(
                &at,
                "alias refers to a node that contains it (recursive alias)",
            ));
        }
        let Some(target) = self.anchors.get(&id) else {
            return Err(self.err(&at, "alias refers to an unknown anchor"));
        };
        let (size, height) = (target.size, target.height);
        self.charge_copy(size, &at)?;
        if self.stack.len() + height > MAX_DEPTH {
            return Err(self.err(
                &at,
                format!("alias expands to nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        let mut built = self
            .anchors
            .get(&id)
            .cloned()
            .ok_or_else(|| self.err(&at, "alias refers to an unknown anchor"))?;
        built.node.span = at;
        self.finish(built, 0)
    }

    fn charge_copy(&mut self, size: usize, at: &Span) -> Result<(), YamlError> {
        self.copied = self.copied.saturating_add(size);
        if self.copied > MAX_COPIED_NODES {
            return Err(self.err(at, format!("anchors and aliases expand to more than {MAX_COPIED_NODES} nodes (alias bomb?)")));
        }
        Ok(())
    }

    /// Hand a finished node to its parent (or make it the document root).
    fn finish(&mut self, built: Built, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.charge_copy(built.size, &built.node.span)?;
            self.anchors.insert(anchor, built.clone());
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(built.node);
            return Ok(());
        };
        parent.size = parent.size.saturating_add(built.size);
        parent.height = parent.height.max(built.height + 1);
        match &mut parent.body {
            Collection::Seq(items) => items.push(built.node),
            Collection::Map { pairs, merges, key } => match key.take() {
                None => {
                    if matches!(built.node.kind, NodeKind::Seq(_) | NodeKind::Map(_)) {
                        let span = built.node.span.clone();
                        return Err(
                            self.err(&span, "a mapping or list cannot be used as a mapping key")
                        );
                    }
                    *key = Some((built.node, built.merge_key));
                }
                Some((_, true)) => merges.push(built.node),
                Some((k, false)) => pairs.push((k, built.node)),
            },
        }
        Ok(())
    }

    /// Apply `<<` merges and collapse duplicate keys the way PyYAML builds a dict: merged pairs
    /// come first (earlier maps in a merge list win over later ones), explicit keys override them,
    /// and a repeated key keeps its first position with its last value.
    fn merge_and_dedupe(
        &mut self,
        explicit: Vec<(Node, Node)>,
        merges: Vec<Node>,
    ) -> Result<Vec<(Node, Node)>, YamlError> {
        let mut merged: Vec<(Node, Node)> = Vec::new();
        for value in merges {
            match value.kind {
                NodeKind::Map(pairs) => merged.extend(pairs),
                NodeKind::Seq(items) => {
                    let mut maps = Vec::with_capacity(items.len());
                    for item in items {
                        match item.kind {
                            NodeKind::Map(pairs) => maps.push(pairs),
                            _ => {
                                return Err(self.err(
                                    &item.span,
                                    format!(
                                        "merge key '<<' expects mappings, found {}",
                                        item.type_name()
                                    ),
                                ))
                            }
                        }
                    }
                    for pairs in maps.into_iter().rev() {
                        merged.extend(pairs);
                    }
                }
                _ => {
                    return Err(self.err(
                        &value.span,
                        format!(
                            "merge key '<<' expects a mapping or a list of mappings, found {}",
                            value.type_name()
                        ),
                    ))
                }
            }
        }
        let merged_len = merged.len();
        let mut out: Vec<(Node, Node)> = Vec::with_capacity(merged_len + explicit.len());
        // Whether each slot of `out` currently holds a pair the user wrote in this map.
        let mut from_explicit: Vec<bool> = Vec::with_capacity(out.capacity());
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, (k, v)) in merged.into_iter().chain(explicit).enumerate() {
            let explicit_key = i >= merged_len;
            let name = k.key_string();
            match index.get(&name) {
                Some(&at) => {
                    // Only a key the user repeated deserves a warning; overriding a merged key is the point of `<<`.
                    if explicit_key && from_explicit[at] {
                        self.out.warnings.push(format!(
                            "{}:{}: duplicate key '{}'",
                            self.file, k.span.line, name
                        ));
                    }
                    out[at] = (k, v);
                    from_explicit[at] = explicit_key;
                }
                None => {
                    index.insert(name, out.len());
                    out.push((k, v));
                    from_explicit.push(explicit_key);
                }
            }
        }
        Ok(out)
    }
}

const VAULT_MSG: &str = "!vault applies to a string (the encrypted text), not to a collection";

const KNOWN_SCALAR_TAGS: &[&str] = &["!!str", "!!int", "!!float", "!!bool", "!!null"];

/// `!!str` for the core schema, `!name` for local tags, `!` for the non-specific tag.
fn tag_name(tag: &Tag) -> String {
    let full = if tag.handle == "!" {
        format!("!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    };
    match full.strip_prefix("tag:yaml.org,2002:") {
        Some(core) => format!("!!{core}"),
        None => full,
    }
}

/// The value of a scalar given its style and explicit tag.
fn scalar_kind(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<NodeKind, String> {
    let invalid = |what: &str| format!("cannot read {text:?} as {what}");
    match tag {
        None if style == ScalarStyle::Plain => Ok(scalar::resolve_plain(text)),
        None | Some("!") | Some("!!str") | Some("!unsafe") => Ok(NodeKind::Str(text.to_string())),
        Some("!!int") => match scalar::construct_int(text) {
            Some(NodeKind::Int(i)) => Ok(NodeKind::Int(i)),
            Some(_) => Err(format!("integer {text:?} does not fit in 64 bits")),
            None => Err(invalid("an integer (!!int)")),
        },
        Some("!!float") => scalar::construct_float(text)
            .or_else(|| scalar::construct_int(text).and_then(int_as_float))
            .map(NodeKind::Float)
            .ok_or_else(|| invalid("a float (!!float)")),
        Some("!!bool") => scalar::construct_bool(text)
            .map(NodeKind::Bool)
            .ok_or_else(|| invalid("a boolean (!!bool)")),
        Some("!!null") => Ok(NodeKind::Null),
        Some("!vault") => crate::vault::decrypt_text(text)
            .map(|plain| NodeKind::Str(plain.to_string()))
            .map_err(|e| format!("!vault value: {e}")),
        Some(t @ ("!!map" | "!!seq")) => Err(format!("tag {t} cannot be applied to a scalar")),
        Some(t) => Err(format!("unsupported YAML tag {t}")),
    }
}

fn int_as_float(kind: NodeKind) -> Option<f64> {
    match kind {
        NodeKind::Int(i) => Some(i as f64),
        _ => None,
    }
}
