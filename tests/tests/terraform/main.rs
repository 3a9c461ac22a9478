//! terraform/ checked without OpenTofu: `tofu validate` needs the bpg/proxmox provider, which
//! cannot be fetched or built on this machine (terraform/README.md says what was tried). Every file
//! parses, every reference resolves inside its module, module calls pass exactly the variables the
//! called module declares, and the root module's `ansible_inventory` output, evaluated here as
//! OpenTofu would, is ansible/inventories/onprem/hosts.yml byte for byte.
//! `POLA_WRITE_INVENTORY=1` writes that file instead.

mod config;
mod eval;

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::PathBuf,
    str::FromStr,
};

use hcl::{Block, Expression, Map, Template, Value, eval::Evaluate, expr::TraversalOperator};
use pola_e2e::root;

use config::{FUNCTIONS, MODULE_META, Module, Refs, attr, check_reference, load_tree, string};
use eval::{evaluate, functions};

fn terraform_dir() -> PathBuf {
    root().join("terraform")
}

fn inventory_path() -> PathBuf {
    root().join("ansible/inventories/onprem/hosts.yml")
}

#[test]
fn every_file_parses_and_every_module_is_called() {
    let tree = load_tree();
    let mut dirs_with_tf = BTreeSet::new();
    let mut queue = vec![terraform_dir().canonicalize().expect("terraform/")];
    while let Some(dir) = queue.pop() {
        for entry in fs::read_dir(&dir).expect("a readable folder") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() && path.file_name().is_some_and(|n| n != ".terraform") {
                queue.push(path);
            } else if path.extension().is_some_and(|e| e == "tf" || e == "tfvars" || e == "example") {
                let text = fs::read_to_string(&path).expect("a readable file");
                hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                dirs_with_tf.insert(dir.clone());
            } else if path.extension().is_some_and(|e| e == "tftpl") {
                let text = fs::read_to_string(&path).expect("a readable template");
                Template::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
    let loaded: BTreeSet<PathBuf> = tree.keys().cloned().collect();
    assert_eq!(
        dirs_with_tf, loaded,
        "folders with .tf files that no module call reaches, or the reverse"
    );
}

#[test]
fn every_reference_resolves_inside_its_module() {
    let tree = load_tree();
    let mut problems = Vec::new();
    for module in tree.values() {
        for block in &module.blocks {
            let kind = block.identifier();
            let mut refs = Refs::default();
            match kind {
                "terraform" => continue,
                "variable" => {
                    for a in block.body().attributes().filter(|a| a.key() != "type") {
                        refs.expr(a.expr(), &mut Vec::new());
                    }
                    for validation in block.body().blocks() {
                        refs.body(validation.body(), &mut Vec::new());
                    }
                }
                "module" => {
                    for a in block.body().attributes().filter(|a| a.key() != "providers") {
                        refs.expr(a.expr(), &mut Vec::new());
                    }
                    problems.extend(check_providers(module, block));
                }
                _ => refs.body(block.body(), &mut Vec::new()),
            }
            let iteration = ["for_each", "count"].into_iter().find(|a| attr(block.body(), a).is_some());
            let iteration = iteration.map(|a| if a == "for_each" { "each" } else { "count" });
            let place = format!(
                "{}: {kind} {:?}",
                module.name(),
                block.labels().iter().map(|l| l.as_str()).collect::<Vec<_>>()
            );
            for (root, steps) in &refs.paths {
                if let Err(e) = check_reference(&tree, module, root, steps, iteration) {
                    problems.push(format!("{place}: {e}"));
                }
            }
            for func in refs
                .funcs
                .iter()
                .filter(|f| !FUNCTIONS.split_whitespace().any(|known| known == f.as_str()))
            {
                problems.push(format!("{place}: {func}() is no OpenTofu function"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A module call's `providers` map: configured aliases of this module for names the child requires.
fn check_providers(module: &Module, call: &Block) -> Vec<String> {
    let Some(Expression::Object(map)) = attr(call.body(), "providers") else {
        return Vec::new();
    };
    let providers = module.blocks.iter().filter(|b| b.identifier() == "provider");
    let aliases: BTreeSet<String> = providers
        .flat_map(|b| attr(b.body(), "alias").map(|a| format!("{}.{}", b.labels()[0].as_str(), string(a))))
        .collect();
    let mut problems = Vec::new();
    for (key, value) in map.iter() {
        let given = match value {
            Expression::Traversal(t) => match (&t.expr, t.operators.as_slice()) {
                (Expression::Variable(v), [TraversalOperator::GetAttr(alias)]) => format!("{}.{alias}", v.as_str()),
                _ => format!("{t:?}"),
            },
            other => format!("{other:?}"),
        };
        if !aliases.contains(&given) {
            problems.push(format!(
                "{}: module {}: provider {given} is not configured",
                module.name(),
                call.labels()[0].as_str()
            ));
        }
        if key.to_string() != "proxmox" {
            problems.push(format!(
                "{}: module {}: provider {key} is not one the modules require",
                module.name(),
                call.labels()[0].as_str()
            ));
        }
    }
    problems
}

#[test]
fn module_calls_pass_exactly_the_variables_their_modules_declare() {
    let tree = load_tree();
    let mut problems = Vec::new();
    for module in tree.values() {
        for (name, call) in module.calls() {
            let child = &tree[&module.child_dir(call)];
            let declared = child.variables();
            let given: BTreeSet<&str> = call
                .body()
                .attributes()
                .map(|a| a.key())
                .filter(|k| !MODULE_META.contains(k))
                .collect();
            for arg in given.iter().filter(|a| !declared.contains_key(*a)) {
                problems.push(format!(
                    "{}: module {name} passes {arg}, which {} does not declare",
                    module.name(),
                    child.name()
                ));
            }
            for (var, block) in &declared {
                if attr(block.body(), "default").is_none() && !given.contains(var) {
                    problems.push(format!(
                        "{}: module {name} misses {var}, which {} requires",
                        module.name(),
                        child.name()
                    ));
                }
            }
            if call.body().blocks().next().is_some() {
                problems.push(format!("{}: module {name} has nested blocks", module.name()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_variable_and_output_is_typed_and_described() {
    let tree = load_tree();
    let mut problems = Vec::new();
    for module in tree.values() {
        for (name, block) in module.variables() {
            for key in ["type", "description"] {
                if attr(block.body(), key).is_none() {
                    problems.push(format!("{}: variable {name} has no {key}", module.name()));
                }
            }
        }
        for (name, block) in module.outputs() {
            if attr(block.body(), "description").is_none() {
                problems.push(format!("{}: output {name} has no description", module.name()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_module_pins_the_same_proxmox_provider() {
    let tree = load_tree();
    let pins: BTreeMap<String, String> = tree
        .values()
        .map(|module| {
            let terraform = module.blocks.iter().find(|b| b.identifier() == "terraform");
            let required = terraform.and_then(|t| t.body().blocks().find(|b| b.identifier() == "required_providers"));
            let pin = required.and_then(|r| attr(r.body(), "proxmox")).map(|p| match p {
                Expression::Object(o) => {
                    let field = |k: &str| {
                        o.iter()
                            .find(|(key, _)| key.to_string() == k)
                            .map(|(_, v)| string(v).to_owned())
                    };
                    format!(
                        "{} {}",
                        field("source").unwrap_or_default(),
                        field("version").unwrap_or_default()
                    )
                }
                other => panic!("required_providers.proxmox is {other:?}"),
            });
            (module.name(), pin.unwrap_or_default())
        })
        .collect();
    let distinct: BTreeSet<&String> = pins.values().collect();
    assert!(
        distinct.len() == 1 && pins.values().all(|p| p.starts_with("bpg/proxmox ~> ")),
        "{pins:#?}"
    );
}

/// The root variables `terraform.tfvars.example` sets, evaluated.
fn example_tfvars() -> Map<String, Value> {
    let path = terraform_dir().join("terraform.tfvars.example");
    let body = hcl::parse(&fs::read_to_string(&path).expect("terraform/terraform.tfvars.example")).expect("HCL");
    let ctx = functions();
    body.attributes()
        .map(|a| (a.key().to_owned(), a.expr().evaluate(&ctx).expect("a constant")))
        .collect()
}

#[test]
fn the_tfvars_example_sets_every_required_variable_and_no_other() {
    let tree = load_tree();
    let root = &tree[&terraform_dir().canonicalize().expect("terraform/")];
    let example = example_tfvars();
    let mut problems = Vec::new();
    for (name, block) in root.variables() {
        let from_env = matches!(attr(block.body(), "ephemeral"), Some(Expression::Bool(true)));
        if attr(block.body(), "default").is_none() && !from_env && !example.contains_key(name) {
            problems.push(format!("{name} is required but not in the example"));
        }
        if from_env && example.contains_key(name) {
            problems.push(format!("{name} is a secret: it belongs in the environment"));
        }
    }
    let variables = root.variables();
    problems.extend(
        example
            .keys()
            .filter(|k| !variables.contains_key(k.as_str()))
            .map(|k| format!("{k} is no variable")),
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_onprem_inventory_is_the_one_terraform_generates() {
    let tree = load_tree();
    let outputs = evaluate(&tree, &terraform_dir().canonicalize().expect("terraform/"), example_tfvars());
    let Some(Value::String(inventory)) = outputs.values.get("ansible_inventory") else {
        panic!(
            "ansible_inventory is not a string: {:?}",
            outputs.values.get("ansible_inventory")
        );
    };
    check_inventory(inventory);
    if std::env::var("POLA_WRITE_INVENTORY").is_ok_and(|v| v == "1") {
        fs::write(inventory_path(), inventory).expect("hosts.yml written");
    }
    let committed = fs::read_to_string(inventory_path()).expect("ansible/inventories/onprem/hosts.yml");
    assert!(
        committed == *inventory,
        "ansible/inventories/onprem/hosts.yml is not what terraform/ generates; run POLA_WRITE_INVENTORY=1 cargo test --test terraform.\nGenerated:\n{inventory}"
    );
}

/// What the playbooks take for granted of the inventory: every site machine in its site's group
/// and one role group, one address per machine, apps pointing at their own site's database.
fn check_inventory(text: &str) {
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).expect("the generated inventory is YAML");
    let groups = &yaml["all"]["children"];
    let hosts = |group: &str| -> BTreeMap<String, serde_yaml::Value> {
        let hosts = groups[group]["hosts"]
            .as_mapping()
            .unwrap_or_else(|| panic!("group {group} has no hosts"));
        hosts
            .iter()
            .map(|(k, v)| (k.as_str().expect("a host name").to_owned(), v.clone()))
            .collect()
    };
    let roles = ["db", "app", "mq", "search", "bastion"];
    let mut addresses = BTreeSet::new();
    for role in roles.iter().chain(&["edge"]) {
        for (name, vars) in hosts(role) {
            let address = vars["ansible_host"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} has no ansible_host"))
                .to_owned();
            assert!(addresses.insert(address.clone()), "{address} is given twice");
        }
    }
    for site in ["dc", "dr"] {
        let members: BTreeSet<String> = hosts(site).into_keys().collect();
        let by_role: BTreeSet<String> = roles
            .iter()
            .flat_map(|r| hosts(r))
            .filter(|(_, v)| v["pola_site"].as_str() == Some(site))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(members, by_role, "group {site} and the role groups' pola_site disagree");
        let dbs: Vec<String> = hosts("db")
            .into_iter()
            .filter(|(_, v)| v["pola_site"].as_str() == Some(site))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(dbs.len(), 1, "site {site} has databases {dbs:?}");
        for (name, vars) in hosts("app")
            .into_iter()
            .filter(|(_, v)| v["pola_site"].as_str() == Some(site))
        {
            assert_eq!(
                vars["pola_db_host"].as_str(),
                Some(dbs[0].as_str()),
                "{name} uses another site's database"
            );
        }
    }
    let ids: BTreeSet<u64> = hosts("db")
        .values()
        .map(|v| v["mariadb_server_id"].as_u64().expect("a server id"))
        .collect();
    assert_eq!(ids.len(), 2, "the databases' server ids must differ");
}
