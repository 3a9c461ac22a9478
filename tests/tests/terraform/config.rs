//! terraform/'s modules as parsed HCL, and what their expressions refer to.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

use hcl::{
    Block, Body, Expression, ObjectKey, Template,
    expr::{Operation, TraversalOperator},
    template::{Directive, Element},
};
use pola_e2e::root;

use crate::terraform_dir;

/// Arguments of a `module` block that are not the called module's variables.
pub const MODULE_META: [&str; 6] = ["source", "version", "providers", "for_each", "count", "depends_on"];

/// OpenTofu's built-in functions (internal/lang/functions.go), but the deprecated `list` and `map`.
pub const FUNCTIONS: &str = "abs abspath alltrue anytrue base64decode base64encode base64gunzip base64gzip base64sha256 \
    base64sha512 basename bcrypt can ceil chomp chunklist cidrcontains cidrhost cidrnetmask cidrsubnet \
    cidrsubnets coalesce coalescelist compact concat contains csvdecode dirname distinct element \
    endswith ephemeralasnull file filebase64 filebase64sha256 filebase64sha512 fileexists filemd5 \
    fileset filesha1 filesha256 filesha512 flatten floor format formatdate formatlist indent index \
    issensitive join jsondecode jsonencode keys length log lookup lower matchkeys max md5 merge min \
    nonsensitive one parseint pathexpand pow range regex regexall replace reverse rsadecrypt sensitive \
    setintersection setproduct setsubtract setunion sha1 sha256 sha512 signum slice sort split \
    startswith strcontains strrev substr sum templatefile templatestring textdecodebase64 \
    textencodebase64 timeadd timecmp timestamp title tobool tolist tomap tonumber toset tostring \
    transpose trim trimprefix trimspace trimsuffix try upper urldecode urlencode uuid uuidv5 values \
    yamldecode yamlencode zipmap";

/// One module: its folder and the top-level blocks of its `.tf` files.
pub struct Module {
    pub dir: PathBuf,
    pub blocks: Vec<Block>,
}

/// The root module and every module it calls, by folder.
pub type Tree = BTreeMap<PathBuf, Module>;

impl Module {
    pub fn load(dir: &Path) -> Module {
        let mut blocks = Vec::new();
        for path in tf_files(dir) {
            let text = fs::read_to_string(&path).expect("a readable .tf file");
            let body = hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                body.attributes().next().is_none(),
                "{}: attributes outside any block",
                path.display()
            );
            blocks.extend(body.into_blocks());
        }
        Module {
            dir: dir.to_owned(),
            blocks,
        }
    }

    pub fn name(&self) -> String {
        let dir = self.dir.strip_prefix(root()).expect("a module inside the checkout");
        dir.display().to_string()
    }

    /// Blocks of one kind by their first label (`variable "x"`, `module "y"`, …).
    pub fn labelled(&self, kind: &str) -> BTreeMap<&str, &Block> {
        let blocks = self.blocks.iter().filter(|b| b.identifier() == kind);
        blocks.map(|b| (b.labels()[0].as_str(), b)).collect()
    }

    pub fn variables(&self) -> BTreeMap<&str, &Block> {
        self.labelled("variable")
    }

    pub fn outputs(&self) -> BTreeMap<&str, &Block> {
        self.labelled("output")
    }

    pub fn calls(&self) -> BTreeMap<&str, &Block> {
        self.labelled("module")
    }

    pub fn locals(&self) -> BTreeMap<&str, &Expression> {
        let blocks = self.blocks.iter().filter(|b| b.identifier() == "locals");
        blocks
            .flat_map(|b| b.body().attributes().map(|a| (a.key(), a.expr())))
            .collect()
    }

    /// Managed resources as (type, name), or data sources for `kind = "data"`.
    pub fn resources(&self, kind: &str) -> BTreeSet<(&str, &str)> {
        let blocks = self.blocks.iter().filter(|b| b.identifier() == kind);
        blocks.map(|b| (b.labels()[0].as_str(), b.labels()[1].as_str())).collect()
    }

    pub fn child_dir(&self, call: &Block) -> PathBuf {
        let source = string(attr(call.body(), "source").expect("a module source"));
        assert!(
            source.starts_with("./") || source.starts_with("../"),
            "{}: module source {source} is not local",
            self.name()
        );
        self.dir
            .join(source)
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: module source {source}: {e}", self.name()))
    }

    /// Whether a module call makes several instances (`module.x["key"]`).
    pub fn is_repeated(call: &Block) -> bool {
        attr(call.body(), "for_each").is_some() || attr(call.body(), "count").is_some()
    }
}

fn tf_files(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tf"))
        .collect();
    files.sort();
    files
}

pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

pub fn string(expr: &Expression) -> &str {
    match expr {
        Expression::String(s) => s,
        other => panic!("expected a string literal, got {other:?}"),
    }
}

pub fn load_tree() -> Tree {
    let mut tree = Tree::new();
    let mut queue = vec![terraform_dir().canonicalize().expect("terraform/")];
    while let Some(dir) = queue.pop() {
        if tree.contains_key(&dir) {
            continue;
        }
        let module = Module::load(&dir);
        queue.extend(module.calls().values().map(|call| module.child_dir(call)));
        tree.insert(dir, module);
    }
    tree
}

/// One step of a reference after its root name.
#[derive(Debug)]
pub enum Step {
    Attr(String),
    Key,
}

/// What expressions refer to: (root name, steps) of names not bound inside them, and functions.
#[derive(Default)]
pub struct Refs {
    pub paths: Vec<(String, Vec<Step>)>,
    pub funcs: BTreeSet<String>,
}

impl Refs {
    pub fn of(expr: &Expression) -> Refs {
        let mut refs = Refs::default();
        refs.expr(expr, &mut Vec::new());
        refs
    }

    pub fn expr(&mut self, expr: &Expression, bound: &mut Vec<String>) {
        match expr {
            Expression::Variable(v) => self.path(v.as_str(), Vec::new(), bound),
            Expression::Traversal(t) => {
                let mut steps = Vec::new();
                for op in &t.operators {
                    match op {
                        TraversalOperator::GetAttr(name) => steps.push(Step::Attr(name.to_string())),
                        TraversalOperator::Index(index) => {
                            self.expr(index, bound);
                            steps.push(Step::Key);
                        }
                        TraversalOperator::LegacyIndex(_) => steps.push(Step::Key),
                        _ => break,
                    }
                }
                match &t.expr {
                    Expression::Variable(v) => self.path(v.as_str(), steps, bound),
                    other => self.expr(other, bound),
                }
            }
            Expression::Array(items) => items.iter().for_each(|item| self.expr(item, bound)),
            Expression::Object(object) => {
                for (key, value) in object.iter() {
                    if let ObjectKey::Expression(key) = key {
                        self.expr(key, bound);
                    }
                    self.expr(value, bound);
                }
            }
            Expression::TemplateExpr(t) => self.template(&Template::from_expr(t).expect("a template"), bound),
            Expression::FuncCall(call) => {
                self.funcs.insert(call.name.to_string());
                call.args.iter().for_each(|arg| self.expr(arg, bound));
            }
            Expression::Parenthesis(inner) => self.expr(inner, bound),
            Expression::Conditional(c) => {
                for e in [&c.cond_expr, &c.true_expr, &c.false_expr] {
                    self.expr(e, bound);
                }
            }
            Expression::Operation(op) => match op.as_ref() {
                Operation::Unary(u) => self.expr(&u.expr, bound),
                Operation::Binary(b) => {
                    self.expr(&b.lhs_expr, bound);
                    self.expr(&b.rhs_expr, bound);
                }
            },
            Expression::ForExpr(f) => {
                self.expr(&f.collection_expr, bound);
                let outer = bound.len();
                bound.extend(f.key_var.iter().chain([&f.value_var]).map(|v| v.to_string()));
                for e in f.key_expr.iter().chain([&f.value_expr]).chain(f.cond_expr.iter()) {
                    self.expr(e, bound);
                }
                bound.truncate(outer);
            }
            _ => {}
        }
    }

    pub fn template(&mut self, template: &Template, bound: &mut Vec<String>) {
        for element in template.elements() {
            match element {
                Element::Literal(_) => {}
                Element::Interpolation(i) => self.expr(&i.expr, bound),
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(i) => {
                        self.expr(&i.cond_expr, bound);
                        self.template(&i.true_template, bound);
                        if let Some(t) = &i.false_template {
                            self.template(t, bound);
                        }
                    }
                    Directive::For(f) => {
                        self.expr(&f.collection_expr, bound);
                        let outer = bound.len();
                        bound.extend(f.key_var.iter().chain([&f.value_var]).map(|v| v.to_string()));
                        self.template(&f.template, bound);
                        bound.truncate(outer);
                    }
                },
            }
        }
    }

    /// A block body: nested blocks too, with `dynamic` blocks' iterators bound in their content.
    pub fn body(&mut self, body: &Body, bound: &mut Vec<String>) {
        for a in body
            .attributes()
            .filter(|a| a.key() != "iterator" && a.key() != "ignore_changes")
        {
            self.expr(a.expr(), bound);
        }
        for block in body.blocks() {
            if block.identifier() != "dynamic" {
                self.body(block.body(), bound);
                continue;
            }
            let iterator = attr(block.body(), "iterator").map_or_else(
                || block.labels()[0].as_str().to_owned(),
                |e| match e {
                    Expression::Variable(v) => v.to_string(),
                    other => panic!("dynamic block iterator {other:?}"),
                },
            );
            for a in block.body().attributes().filter(|a| a.key() != "iterator") {
                self.expr(a.expr(), bound);
            }
            bound.push(iterator);
            for content in block.body().blocks() {
                self.body(content.body(), bound);
            }
            bound.pop();
        }
    }

    pub fn path(&mut self, root: &str, steps: Vec<Step>, bound: &[String]) {
        if !bound.iter().any(|b| b == root) {
            self.paths.push((root.to_owned(), steps));
        }
    }

    /// Whether any reference names a resource, a data source or a repeated module's instances:
    /// values only known after apply, which this test does not evaluate.
    pub fn reach_infrastructure(&self, module: &Module) -> bool {
        let calls = module.calls();
        self.paths.iter().any(|(root, steps)| match root.as_str() {
            "var" | "local" | "path" | "each" | "count" | "terraform" => false,
            "module" => {
                matches!(steps.first(), Some(Step::Attr(m)) if calls.get(m.as_str()).is_some_and(|c| Module::is_repeated(c)))
            }
            _ => true,
        })
    }
}

/// Checks one reference against the module it appears in; `iteration` is `each` or `count` when
/// the enclosing block repeats.
pub fn check_reference(tree: &Tree, module: &Module, root: &str, steps: &[Step], iteration: Option<&str>) -> Result<(), String> {
    let first = match steps.first() {
        Some(Step::Attr(name)) => Some(name.as_str()),
        _ => None,
    };
    let known = match root {
        "var" => first.is_some_and(|n| module.variables().contains_key(n)),
        "local" => first.is_some_and(|n| module.locals().contains_key(n)),
        "path" => first.is_some_and(|n| ["module", "root", "cwd"].contains(&n)),
        "terraform" => first == Some("workspace"),
        "each" | "count" => iteration == Some(root),
        "data" => match steps {
            [Step::Attr(kind), Step::Attr(name), ..] => module.resources("data").contains(&(kind.as_str(), name.as_str())),
            _ => false,
        },
        "module" => {
            let calls = module.calls();
            let Some(call) = first.and_then(|n| calls.get(n)) else {
                return Err(format!("module.{} is not called here", first.unwrap_or("?")));
            };
            let child = &tree[&module.child_dir(call)];
            let rest = if Module::is_repeated(call) {
                steps.get(2)
            } else {
                steps.get(1)
            };
            match rest {
                Some(Step::Attr(output)) => child.outputs().contains_key(output.as_str()),
                _ => true,
            }
        }
        kind => first.is_some_and(|n| module.resources("resource").contains(&(kind, n))),
    };
    if known {
        Ok(())
    } else {
        Err(format!("{root}{steps:?} names nothing declared"))
    }
}
