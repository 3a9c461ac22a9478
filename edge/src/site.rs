//! Which site serves: DC while it is healthy, DR after `failure_threshold` consecutive checks
//! with a pool that has no healthy DC member — and never back by itself. An operator moves it
//! (`pola-edge site activate dc|dr`); the choice is kept in a file and survives a restart.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU8, AtomicU32, Ordering},
};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Site {
    Dc,
    Dr,
}

impl Site {
    pub fn as_str(self) -> &'static str {
        match self {
            Site::Dc => "dc",
            Site::Dr => "dr",
        }
    }
}

impl std::str::FromStr for Site {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dc" => Ok(Site::Dc),
            "dr" => Ok(Site::Dr),
            _ => Err(format!("no site `{s}`: the sites are dc and dr")),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    active: Site,
}

/// The active site, kept in memory and in `state_file`.
pub struct SiteState {
    active: AtomicU8,
    /// Consecutive checks that found DC down.
    dc_failures: AtomicU32,
    threshold: u32,
    state_file: PathBuf,
}

fn encode(site: Site) -> u8 {
    match site {
        Site::Dc => 0,
        Site::Dr => 1,
    }
}

impl SiteState {
    /// The site the file names, or DC when there is no file yet.
    pub fn load(state_file: &Path, threshold: u32) -> anyhow::Result<Self> {
        let active = match std::fs::read(state_file) {
            Ok(bytes) => serde_json::from_slice::<Stored>(&bytes)?.active,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Site::Dc,
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            active: AtomicU8::new(encode(active)),
            dc_failures: AtomicU32::new(0),
            threshold,
            state_file: state_file.to_owned(),
        })
    }

    pub fn active(&self) -> Site {
        match self.active.load(Ordering::Acquire) {
            0 => Site::Dc,
            _ => Site::Dr,
        }
    }

    /// Makes `site` active, and keeps it so across restarts.
    pub fn activate(&self, site: Site, why: &str) -> anyhow::Result<()> {
        self.store(site)?;
        let before = self.active.swap(encode(site), Ordering::AcqRel);
        self.dc_failures.store(0, Ordering::Release);
        if before != encode(site) {
            tracing::warn!(site.active = site.as_str(), why, "active site changed");
        }
        metrics::gauge!("edge_active_site_dr").set(f64::from(encode(site)));
        Ok(())
    }

    fn store(&self, site: Site) -> anyhow::Result<()> {
        if let Some(dir) = self.state_file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = self.state_file.with_extension("tmp");
        std::fs::write(&temporary, serde_json::to_vec(&Stored { active: site })?)?;
        std::fs::rename(&temporary, &self.state_file)?;
        Ok(())
    }

    /// Records one round of health checks. DC down for `threshold` rounds in a row while DC
    /// is active moves traffic to DR; a healthy DC resets the count but never moves it back.
    pub fn observe(&self, dc_healthy: bool) {
        if dc_healthy {
            self.dc_failures.store(0, Ordering::Release);
            return;
        }
        let failures = self.dc_failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= self.threshold && self.active() == Site::Dc {
            let why = format!("DC failed {failures} consecutive health checks");
            if let Err(e) = self.activate(Site::Dr, &why) {
                tracing::error!(error = %e, "could not record the move to DR; serving DR anyway");
                self.active.store(encode(Site::Dr), Ordering::Release);
            }
        }
    }

    pub fn dc_failures(&self) -> u32 {
        self.dc_failures.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dc_down_for_the_threshold_moves_to_dr_which_stays_and_survives_a_restart() {
        let file = std::env::temp_dir().join(format!("pola-edge-site-{}.json", uuid::Uuid::now_v7().simple()));
        let state = SiteState::load(&file, 3).expect("loaded");
        assert_eq!(state.active(), Site::Dc);
        state.observe(false);
        state.observe(false);
        state.observe(true);
        state.observe(false);
        state.observe(false);
        assert_eq!(state.active(), Site::Dc, "the count restarts after a healthy round");
        state.observe(false);
        assert_eq!(state.active(), Site::Dr);
        state.observe(true);
        assert_eq!(state.active(), Site::Dr, "no fail-back by itself");
        assert_eq!(SiteState::load(&file, 3).expect("reloaded").active(), Site::Dr);
        state.activate(Site::Dc, "operator").expect("activated");
        assert_eq!(SiteState::load(&file, 3).expect("reloaded").active(), Site::Dc);
        let _ = std::fs::remove_file(file);
    }
}
