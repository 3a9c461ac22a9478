//! A real Chromium (Debian's, headless) driven over WebDriver by its own ChromeDriver, for the
//! storefront's tests: with or without JavaScript, at a phone's or a desktop's size, with
//! screenshots kept as test artefacts and axe-core's accessibility check run in the page.
//! `make test` installs Chromium, ChromeDriver and axe-core (`scripts/browser.sh`).

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};
use uuid::Uuid;

/// The screen the page is shown on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// A mid-range phone: 390×844 CSS pixels, touch, device pixel ratio 2.
    Phone,
    /// A laptop: 1280×800.
    Desktop,
}

impl Screen {
    fn name(self) -> &'static str {
        match self {
            Screen::Phone => "phone",
            Screen::Desktop => "desktop",
        }
    }
}

/// One browser at a time in this test process: a Chromium takes a core while it renders, and
/// the suite's other tests (a thousand orders relayed through a restarted broker among them) need
/// the machine's two as well.
static ONE_BROWSER: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> = std::sync::LazyLock::new(Default::default);

/// One browser with its driver; both end when it drops.
pub struct Browser {
    pub client: Client,
    _turn: tokio::sync::OwnedMutexGuard<()>,
    driver: Child,
    profile: PathBuf,
    base: String,
    screen: Screen,
    /// Whether pages run their scripts.
    pub javascript: bool,
}

impl Browser {
    /// A fresh browser (no cookies) showing the shop at `base`.
    pub async fn start(base: &str, screen: Screen, javascript: bool) -> Self {
        let turn = ONE_BROWSER.clone().lock_owned().await;
        let port = pola_core::testing::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (make test installs Debian's chromium-driver)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = std::env::temp_dir().join(format!("pola-chromium-{}", Uuid::now_v7().simple()));
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--no-first-run".into(),
            "--lang=en-GB".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut options = json!({"binary": "/usr/bin/chromium"});
        match (screen, javascript) {
            (Screen::Phone, true) => {
                options["mobileEmulation"] =
                    json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0, "touch": true}});
            }
            // ChromeDriver's mobile emulation waits forever on typing into a page whose
            // scripts are off: a phone-sized window instead.
            (Screen::Phone, false) => args.push("--window-size=390,844".into()),
            (Screen::Desktop, _) => args.push("--window-size=1280,800".into()),
        }
        options["args"] = json!(args);
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        // A page that never finishes loading fails its step in seconds, not WebDriver's five
        // minutes.
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(Duration::from_secs(30)),
                Some(Duration::from_secs(30)),
                None,
            ))
            .await
            .expect("timeouts set");
        Self {
            client,
            _turn: turn,
            driver,
            profile,
            base: base.trim_end_matches('/').to_owned(),
            screen,
            javascript,
        }
    }

    /// Goes to a path of the shop.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// The path and query shown now.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("a URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Whether this page has an element matching `css`.
    pub async fn shows(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("`{css}`: {e}"))
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// All the page's visible text.
    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// Chooses `file` in the file input at `css`.
    pub async fn upload(&self, css: &str, file: &std::path::Path) {
        self.find(css)
            .await
            .send_keys(&file.display().to_string())
            .await
            .unwrap_or_else(|e| panic!("`{css}`: {e}"));
    }

    /// Types `value` into the field `css` (after clearing it).
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("cleared");
        field.send_keys(value).await.expect("typed");
    }

    /// Clicks `css` on this page (a radio button, a checkbox).
    pub async fn tick(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
    }

    /// Clicks `css` and waits for the next page to be shown (a link followed, a form sent).
    pub async fn click(&self, css: &str) {
        let before = self.find("html").await.element_id();
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
        self.wait_for_new_page(before, css).await;
    }

    /// Waits until the document is no longer the one whose root was `before`.
    async fn wait_for_new_page(&self, before: fantoccini::elements::ElementRef, cause: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(root) = self.client.find(Locator::Css("html")).await
                && root.element_id() != before
                && self.client.find(Locator::Css("body")).await.is_ok()
            {
                return;
            }
            assert!(Instant::now() < deadline, "no new page after `{cause}`");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Picks the option with `value` in the select `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.expect("selected");
    }

    /// Picks the option with `value` in a select that sends its form when it changes (with
    /// JavaScript), and waits for the page that comes back.
    pub async fn choose_and_wait(&self, css: &str, value: &str) {
        let before = self.find("html").await.element_id();
        self.choose(css, value).await;
        self.wait_for_new_page(before, css).await;
    }

    /// Saves what the screen shows as `target/screenshots/<name>-<screen>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("a folder");
        std::fs::write(dir.join(format!("{name}-{}.png", self.screen.name())), png).expect("written");
    }

    /// axe-core's serious and critical violations on this page (needs JavaScript).
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let axe = std::fs::read_to_string(axe_path()).expect("axe-core (make test installs it with scripts/browser.sh)");
        self.client.execute(&axe, vec![]).await.expect("axe-core loads");
        let script = "const done = arguments[arguments.length - 1];
            axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations
              .filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))));";
        let found = self.client.execute_async(script, vec![]).await.expect("axe-core runs");
        match found {
            Value::Array(items) => items.into_iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect(),
            other => panic!("axe-core answered {other}"),
        }
    }

    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where screenshots go: `POLA_SCREENSHOTS`, else the workspace's `target/screenshots`.
pub fn screenshots_dir() -> PathBuf {
    match std::env::var_os("POLA_SCREENSHOTS") {
        Some(dir) => dir.into(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots"),
    }
}

fn axe_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../var/axe/node_modules/axe-core/axe.min.js")
}
