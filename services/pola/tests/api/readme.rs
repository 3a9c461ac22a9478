//! The README's commands, run for real: `pola migrate`, `pola seed`, `pola staff create` and
//! `pola serve` as processes of the built binary, and the five-minute tour's shell block, as a
//! newcomer would paste it, against that server.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use pola_core::testing::{TestDatabases, test_server_url};

struct Pola {
    env: Vec<(&'static str, String)>,
}

impl Pola {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pola"));
        command.args(args).envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        command
    }

    /// Runs a command to the end; its standard output.
    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> String {
        let output = self.command(args).envs(extra.iter().copied()).output().expect("pola runs");
        assert!(
            output.status.success(),
            "pola {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// Stops the server with SIGTERM when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// The first ```sh block after the heading `## A five-minute tour`.
fn tour() -> String {
    let readme = include_str!("../../../../README.md");
    let section = &readme[readme.find("## A five-minute tour").expect("the tour section")..];
    let start = section.find("```sh\n").expect("a shell block") + "```sh\n".len();
    let end = start + section[start..].find("```").expect("the block's end");
    section[start..end].to_owned()
}

#[test]
fn the_readme_tour_runs_against_a_real_pola_process() {
    let databases = TestDatabases::new();
    let dir = std::env::temp_dir().join(format!("pola-readme-{}", uuid::Uuid::now_v7().simple()));
    let pola = Pola {
        env: vec![
            ("POLA_DATABASE__URL", test_server_url()),
            ("POLA_DATABASE__PREFIX", databases.config.prefix.clone()),
            ("POLA_AUTH__SIGNING_KEY_FILE", dir.join("key.pem").display().to_string()),
            ("POLA_PII__KEYRING_FILE", dir.join("pii-keyring.json").display().to_string()),
            ("POLA_AUTH__ARGON2_MEMORY_KIB", "64".into()),
            ("POLA_AUTH__ARGON2_ITERATIONS", "1".into()),
            ("POLA_HTTP__ADDR", "127.0.0.1:0".into()),
            ("POLA_LOG__FORMAT", "json".into()),
        ],
    };

    assert!(pola.run(&["migrate"], &[]).contains("migrations applied"));
    assert!(
        pola.run(&["seed", "--demo", "--products", "300"], &[])
            .contains("seeded 300 products")
    );
    assert!(
        pola.run(&["seed", "--demo"], &[]).contains("not seeding"),
        "a second seed changes nothing"
    );
    let staff = pola.run(
        &["staff", "create", "--email", "admin@pola.lk", "--role", "admin"],
        &[("POLA_STAFF_PASSWORD", "a staff passphrase")],
    );
    assert!(staff.trim().parse::<uuid::Uuid>().is_ok(), "{staff}");

    let mut child = pola
        .command(&["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().expect("piped");
    let server = Server(child);
    let mut addr = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a log line");
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["message"] == "pola is serving" {
            addr = event["http.addr"].as_str().map(str::to_owned);
            break;
        }
    }
    let addr = addr.expect("serve logs where it listens");

    let script = tour().replace("API=http://127.0.0.1:8080", &format!("API=http://{addr}"));
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the tour failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("\"pending_payment\""),
        "no order in the tour's output:\n{stdout}"
    );
    assert!(stdout.contains("\n204\n"), "logout did not answer 204:\n{stdout}");

    // A key rotation from the command line while the server runs: the tour's customer still
    // signs in and reads their profile.
    let rotated = pola.run(&["keys", "rotate"], &[]);
    assert!(
        rotated.contains("version 2 is now current") && rotated.contains("1 data keys rewrapped; 0 left"),
        "{rotated}"
    );
    let me = format!(
        "curl -sf http://{addr}/api/v1/identity/me -H \"authorization: Bearer $(curl -sf http://{addr}/api/v1/identity/token \
           -H 'content-type: application/json' \
           -d '{{\"grant_type\":\"password\",\"username\":\"nimal@example.lk\",\"password\":\"a long passphrase\"}}' | jq -r .access_token)\""
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &me])
        .output()
        .expect("bash runs");
    assert!(String::from_utf8_lossy(&output.stdout).contains("Nimal Perera"), "{output:?}");

    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
