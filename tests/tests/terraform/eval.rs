//! Evaluation of a module as OpenTofu plans it, with the OpenTofu functions terraform/ uses.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    net::Ipv4Addr,
    path::Path,
    str::FromStr,
};

use hcl::{
    Block, Expression, Map, Template, Value,
    eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType},
};
use ipnet::Ipv4Net;

use crate::config::{MODULE_META, Module, Refs, Step, Tree, attr};

/// What evaluating a module gave: its outputs, and the outputs left unevaluated because they
/// depend on resources.
pub struct Evaluated {
    pub values: Map<String, Value>,
    after_apply: BTreeSet<String>,
}

/// Evaluates a module as OpenTofu plans it, up to what is known before apply: variables (the
/// inputs, else defaults) and their validations, locals, the calls of modules that are not
/// repeated, and outputs. A local, a module input or an output that fails without depending on a
/// resource fails the test.
pub fn evaluate(tree: &Tree, dir: &Path, inputs: Map<String, Value>) -> Evaluated {
    let module = &tree[dir];
    let name = module.name();
    let mut vars = Map::new();
    for (var, block) in module.variables() {
        let value = inputs.get(var).cloned().or_else(|| {
            let default = attr(block.body(), "default")?;
            Some(
                default
                    .evaluate(&functions())
                    .unwrap_or_else(|e| panic!("{name}: var.{var} default: {e}")),
            )
        });
        if let Some(value) = value {
            vars.insert(var.to_owned(), sorted(value));
        }
    }
    for (var, block) in module.variables() {
        if !vars.contains_key(var) {
            continue;
        }
        for validation in block.body().blocks().filter(|b| b.identifier() == "validation") {
            let mut ctx = functions();
            ctx.declare_var("var", Value::Object(vars.clone()));
            let condition = attr(validation.body(), "condition").expect("a condition").evaluate(&ctx);
            let message = attr(validation.body(), "error_message")
                .map(|m| format!("{m:?}"))
                .unwrap_or_default();
            assert!(
                matches!(condition, Ok(Value::Bool(true))),
                "{name}: var.{var} fails its validation ({condition:?}): {message}"
            );
        }
    }

    // Locals and module calls in whatever order their references allow.
    let mut locals = Map::new();
    let mut modules = Map::new();
    let mut after_apply_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pending_locals = module.locals();
    let calls = module.calls();
    let mut pending_calls: BTreeMap<&str, &Block> = calls
        .iter()
        .filter(|(_, c)| !Module::is_repeated(c))
        .map(|(n, c)| (*n, *c))
        .collect();
    loop {
        let ctx = scope(dir, &vars, &locals, &modules);
        let done: Vec<(String, Value)> = pending_locals
            .iter()
            .filter_map(|(n, e)| Some((n.to_string(), e.evaluate(&ctx).ok()?)))
            .collect();
        let mut called = Vec::new();
        for (call_name, call) in &pending_calls {
            let args: Result<Map<String, Value>, _> = call
                .body()
                .attributes()
                .filter(|a| !MODULE_META.contains(&a.key()))
                .map(|a| a.expr().evaluate(&ctx).map(|v| (a.key().to_owned(), v)))
                .collect();
            if let Ok(args) = args {
                called.push((call_name.to_string(), evaluate(tree, &module.child_dir(call), args)));
            }
        }
        if done.is_empty() && called.is_empty() {
            break;
        }
        for (local, value) in done {
            pending_locals.remove(local.as_str());
            locals.insert(local, sorted(value));
        }
        for (call_name, child) in called {
            pending_calls.remove(call_name.as_str());
            modules.insert(call_name.clone(), Value::Object(child.values));
            after_apply_of.insert(call_name, child.after_apply);
        }
    }
    let ctx = scope(dir, &vars, &locals, &modules);
    if let Some((call_name, call)) = pending_calls.iter().next() {
        let errors: Vec<String> = call
            .body()
            .attributes()
            .filter_map(|a| a.expr().evaluate(&ctx).err().map(|e| format!("{}: {e}", a.key())))
            .collect();
        panic!("{name}: module {call_name} cannot be called: {errors:?}");
    }
    // Whether an expression waits for apply: it reaches a resource, or a local or module output
    // that does.
    let waits = |refs: &Refs, pending: &BTreeSet<String>| {
        refs.reach_infrastructure(module)
            || refs
                .paths
                .iter()
                .any(|(root, steps)| match (root.as_str(), steps.as_slice()) {
                    ("local", [Step::Attr(l), ..]) => pending.contains(l),
                    ("module", [Step::Attr(m), Step::Attr(o), ..]) => after_apply_of.get(m).is_some_and(|a| a.contains(o)),
                    _ => false,
                })
    };
    let mut waiting = BTreeSet::new();
    while let Some(local) = pending_locals
        .keys()
        .find(|l| !waiting.contains(**l) && waits(&Refs::of(pending_locals[**l]), &waiting))
    {
        waiting.insert(local.to_string());
    }
    // The failing local to report is one that fails by itself, not through another one.
    let failing: BTreeMap<&str, &Expression> = pending_locals.into_iter().filter(|(l, _)| !waiting.contains(*l)).collect();
    let by_itself = failing.iter().find(|(_, e)| {
        !Refs::of(e)
            .paths
            .iter()
            .any(|(r, s)| r == "local" && matches!(s.first(), Some(Step::Attr(l)) if failing.contains_key(l.as_str())))
    });
    if let Some((local, expr)) = by_itself.or(failing.iter().next()) {
        panic!("{name}: local.{local}: {}", expr.evaluate(&ctx).expect_err("a failing local"));
    }

    let mut evaluated = Evaluated {
        values: Map::new(),
        after_apply: BTreeSet::new(),
    };
    for (output, block) in module.outputs() {
        let expr = attr(block.body(), "value").expect("an output value");
        match expr.evaluate(&ctx) {
            Ok(value) => {
                evaluated.values.insert(output.to_owned(), sorted(value));
            }
            Err(_) if waits(&Refs::of(expr), &waiting) => {
                evaluated.after_apply.insert(output.to_owned());
            }
            Err(e) => panic!("{name}: output {output}: {e}"),
        }
    }
    evaluated
}

/// The names an expression in a module sees.
fn scope(dir: &Path, vars: &Map<String, Value>, locals: &Map<String, Value>, modules: &Map<String, Value>) -> Context<'static> {
    let mut ctx = functions();
    ctx.declare_var("var", Value::Object(vars.clone()));
    ctx.declare_var("local", Value::Object(locals.clone()));
    ctx.declare_var("module", Value::Object(modules.clone()));
    ctx.declare_var(
        "path",
        Value::Object(Map::from_iter([(
            "module".to_owned(),
            Value::from(dir.display().to_string()),
        )])),
    );
    ctx
}

/// OpenTofu orders an object's attributes by name (`for`, `keys`, `values` follow that order);
/// hcl-rs keeps insertion order, so every value is sorted where it enters a scope.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut object: Map<String, Value> = object.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            object.sort_keys();
            Value::Object(object)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The OpenTofu functions terraform/ calls on the way to its inventory, with OpenTofu's meaning.
pub fn functions() -> Context<'static> {
    use ParamType::{Any, Number, String};
    let list = || ParamType::array_of(Any);
    let object = || ParamType::object_of(Any);
    let mut ctx = Context::new();
    ctx.declare_func("alltrue", FuncDef::new(alltrue, [list()]));
    ctx.declare_func("cidrhost", FuncDef::new(cidrhost, [String, Number]));
    ctx.declare_func("cidrsubnet", FuncDef::new(cidrsubnet, [String, Number, Number]));
    ctx.declare_func("concat", FuncDef::builder().variadic_param(list()).build(concat));
    ctx.declare_func("contains", FuncDef::new(contains, [list(), Any]));
    ctx.declare_func("distinct", FuncDef::new(distinct, [list()]));
    ctx.declare_func("element", FuncDef::new(element, [list(), Number]));
    ctx.declare_func("endswith", FuncDef::new(endswith, [String, String]));
    ctx.declare_func("keys", FuncDef::new(keys, [object()]));
    ctx.declare_func("length", FuncDef::new(length, [Any]));
    ctx.declare_func("merge", FuncDef::builder().variadic_param(object()).build(merge));
    ctx.declare_func("range", FuncDef::new(range, [Number, Number]));
    ctx.declare_func("split", FuncDef::new(split, [String, String]));
    ctx.declare_func("startswith", FuncDef::new(startswith, [String, String]));
    ctx.declare_func("templatefile", FuncDef::new(templatefile, [String, object()]));
    ctx.declare_func("values", FuncDef::new(values, [object()]));
    ctx
}

fn items(value: &Value) -> &[Value] {
    value.as_array().expect("checked by the parameter type")
}

fn text(value: &Value) -> &str {
    value.as_str().expect("checked by the parameter type")
}

fn whole(value: &Value) -> Result<u64, String> {
    value.as_u64().ok_or_else(|| format!("{value} is not a whole number ≥ 0"))
}

fn network(value: &Value) -> Result<Ipv4Net, String> {
    text(value).parse::<Ipv4Net>().map_err(|e| format!("{value}: {e}"))
}

fn alltrue(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(items(&args[0]).iter().all(|v| v.as_bool() == Some(true))))
}

fn cidrhost(args: FuncArgs) -> Result<Value, String> {
    let net = network(&args[0])?;
    let host = whole(&args[1])?;
    if host >> (32 - net.prefix_len()) != 0 {
        return Err(format!("prefix {net} has no host {host}"));
    }
    Ok(Value::from(
        Ipv4Addr::from(u32::from(net.network()) + host as u32).to_string(),
    ))
}

fn cidrsubnet(args: FuncArgs) -> Result<Value, String> {
    let net = network(&args[0])?;
    let (bits, number) = (whole(&args[1])?, whole(&args[2])?);
    let prefix = u64::from(net.prefix_len()) + bits;
    if prefix > 32 || number >> bits != 0 {
        return Err(format!("{net} has no /{prefix} number {number}"));
    }
    let start = u32::from(net.network()) + ((number as u32) << (32 - prefix));
    Ok(Value::from(format!("{}/{prefix}", Ipv4Addr::from(start))))
}

fn concat(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(args.iter().flat_map(|a| items(a).to_vec()).collect()))
}

fn contains(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(items(&args[0]).contains(&args[1])))
}

fn distinct(args: FuncArgs) -> Result<Value, String> {
    let mut seen = Vec::new();
    for item in items(&args[0]) {
        if !seen.contains(item) {
            seen.push(item.clone());
        }
    }
    Ok(Value::Array(seen))
}

fn element(args: FuncArgs) -> Result<Value, String> {
    let list = items(&args[0]);
    let index = whole(&args[1])? as usize;
    list.get(index % list.len().max(1))
        .cloned()
        .ok_or_else(|| "element() of an empty list".to_owned())
}

fn endswith(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(text(&args[0]).ends_with(text(&args[1]))))
}

fn keys(args: FuncArgs) -> Result<Value, String> {
    let Value::Object(object) = sorted(args[0].clone()) else {
        unreachable!("checked by the parameter type")
    };
    Ok(Value::Array(object.into_keys().map(Value::from).collect()))
}

fn length(args: FuncArgs) -> Result<Value, String> {
    let n = match &args[0] {
        Value::Array(items) => items.len(),
        Value::Object(object) => object.len(),
        Value::String(s) => s.chars().count(),
        other => return Err(format!("length() of {other}")),
    };
    Ok(Value::from(n as u64))
}

fn merge(args: FuncArgs) -> Result<Value, String> {
    let merged: Map<String, Value> = args
        .iter()
        .flat_map(|a| a.as_object().expect("checked by the parameter type").clone())
        .collect();
    Ok(sorted(Value::Object(merged)))
}

fn range(args: FuncArgs) -> Result<Value, String> {
    let (start, limit) = (whole(&args[0])?, whole(&args[1])?);
    Ok(Value::Array((start..limit).map(Value::from).collect()))
}

fn split(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(text(&args[1]).split(text(&args[0])).map(Value::from).collect()))
}

fn startswith(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(text(&args[0]).starts_with(text(&args[1]))))
}

/// Renders a template file with the given variables and the same functions (paths are absolute:
/// `path.module` is).
fn templatefile(args: FuncArgs) -> Result<Value, String> {
    let path = text(&args[0]);
    let source = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let template = Template::from_str(&source).map_err(|e| format!("{path}: {e}"))?;
    let mut ctx = functions();
    let Value::Object(vars) = sorted(args[1].clone()) else {
        unreachable!("checked by the parameter type")
    };
    for (name, value) in vars {
        ctx.declare_var(name, value);
    }
    template.evaluate(&ctx).map(Value::from).map_err(|e| format!("{path}: {e}"))
}

fn values(args: FuncArgs) -> Result<Value, String> {
    let Value::Object(object) = sorted(args[0].clone()) else {
        unreachable!("checked by the parameter type")
    };
    Ok(Value::Array(object.into_values().collect()))
}
