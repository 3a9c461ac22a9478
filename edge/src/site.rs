//! Which site serves: the one where the shop can take writes. DC serves while it can; traffic
//! moves to DR after `failure_threshold` consecutive check rounds in which DC cannot serve at all
//! (a pool without a healthy DC member), or in which DR takes writes and DC does not (its
//! database was failed over). A busy DC is not a lost one: while its members answer and its
//! database takes writes, traffic stays. Traffic moves back to DC only when DR does not take
//! writes and DC does (the edge had moved for reads while DC's app was down, its database still
//! primary); once DR takes writes it stays there until an operator moves it
//! (`pola-edge site activate dc|dr`). The choice is kept in a file and survives a restart.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU8, AtomicU32, Ordering},
};

use serde::{Deserialize, Serialize};

/// What one round of checks found at one site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteHealth {
    /// Every pool has a healthy member here (it serves reads, at least).
    pub serving: bool,
    /// Every pool has a healthy member here whose database takes writes.
    pub writable: bool,
}

/// One round of checks of both sites. `dr` is None when no pool has DR members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    pub dc: SiteHealth,
    pub dr: Option<SiteHealth>,
}

/// Why the active site last changed, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Move {
    pub to: Site,
    pub why: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// Consecutive check rounds that found a reason to move away from the active site.
    strikes: AtomicU32,
    threshold: u32,
    state_file: PathBuf,
    last_round: std::sync::Mutex<Option<Round>>,
    last_move: std::sync::Mutex<Option<Move>>,
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
            strikes: AtomicU32::new(0),
            threshold,
            state_file: state_file.to_owned(),
            last_round: std::sync::Mutex::default(),
            last_move: std::sync::Mutex::default(),
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
        self.strikes.store(0, Ordering::Release);
        if before != encode(site) {
            tracing::warn!(site.active = site.as_str(), why, "active site changed");
            metrics::counter!("edge_site_moves_total", "to" => site.as_str()).increment(1);
            *self.last_move.lock().expect("unpoisoned") = Some(Move {
                to: site,
                why: why.to_owned(),
                at: chrono::Utc::now(),
            });
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

    /// Records one round of health checks, and moves traffic when the same reason to move has
    /// held for `threshold` rounds in a row.
    pub fn observe(&self, round: Round) {
        *self.last_round.lock().expect("unpoisoned") = Some(round);
        for (site, health) in [(Site::Dc, Some(round.dc)), (Site::Dr, round.dr)] {
            let health = health.unwrap_or_default();
            metrics::gauge!("edge_site_serving", "site" => site.as_str()).set(f64::from(u8::from(health.serving)));
            metrics::gauge!("edge_site_writable", "site" => site.as_str()).set(f64::from(u8::from(health.writable)));
        }
        let Some(reason) = reason_to_move(self.active(), round) else {
            self.strikes.store(0, Ordering::Release);
            return;
        };
        let strikes = self.strikes.fetch_add(1, Ordering::AcqRel) + 1;
        if strikes < self.threshold {
            return;
        }
        let to = match self.active() {
            Site::Dc => Site::Dr,
            Site::Dr => Site::Dc,
        };
        let why = format!("{reason} ({strikes} consecutive checks)");
        if let Err(e) = self.activate(to, &why) {
            tracing::error!(error = %e, "could not record the move of the active site; serving {} anyway", to.as_str());
            self.active.store(encode(to), Ordering::Release);
        }
    }

    /// Consecutive check rounds that found a reason to move (reset by a round that did not).
    pub fn strikes(&self) -> u32 {
        self.strikes.load(Ordering::Acquire)
    }

    /// What the last round of checks found.
    pub fn last_round(&self) -> Option<Round> {
        *self.last_round.lock().expect("unpoisoned")
    }

    /// The last change of the active site since this edge started.
    pub fn last_move(&self) -> Option<Move> {
        self.last_move.lock().expect("unpoisoned").clone()
    }
}

/// Why traffic should leave `active` after this round, if it should.
fn reason_to_move(active: Site, round: Round) -> Option<&'static str> {
    let dr = round.dr?;
    let dc = round.dc;
    match active {
        Site::Dc if !dc.serving => Some("DC cannot serve: a pool has no healthy DC member"),
        Site::Dc if !dc.writable && dr.writable => Some("DR takes writes and DC does not"),
        Site::Dr if dc.writable && !dr.writable => Some("DC takes writes and DR does not"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: SiteHealth = SiteHealth {
        serving: true,
        writable: true,
    };
    const READ_ONLY: SiteHealth = SiteHealth {
        serving: true,
        writable: false,
    };
    const DOWN: SiteHealth = SiteHealth {
        serving: false,
        writable: false,
    };

    fn round(dc: SiteHealth, dr: SiteHealth) -> Round {
        Round { dc, dr: Some(dr) }
    }

    fn fresh() -> (SiteState, PathBuf) {
        let file = std::env::temp_dir().join(format!("pola-edge-site-{}.json", uuid::Uuid::now_v7().simple()));
        (SiteState::load(&file, 3).expect("loaded"), file)
    }

    #[test]
    fn dc_down_for_the_threshold_moves_to_dr_which_stays_once_it_takes_writes_and_survives_a_restart() {
        let (state, file) = fresh();
        assert_eq!(state.active(), Site::Dc);
        state.observe(round(DOWN, READ_ONLY));
        state.observe(round(DOWN, READ_ONLY));
        state.observe(round(UP, READ_ONLY));
        state.observe(round(DOWN, READ_ONLY));
        state.observe(round(DOWN, READ_ONLY));
        assert_eq!(state.active(), Site::Dc, "the count restarts after a healthy round");
        state.observe(round(DOWN, READ_ONLY));
        assert_eq!(state.active(), Site::Dr);
        assert!(state.last_move().expect("moved").why.contains("DC cannot serve"));
        // DR promoted (failover): DC back, even writable, does not take traffic back.
        for _ in 0..5 {
            state.observe(round(UP, UP));
        }
        assert_eq!(state.active(), Site::Dr, "no fail-back by itself once DR takes writes");
        assert_eq!(SiteState::load(&file, 3).expect("reloaded").active(), Site::Dr);
        state.activate(Site::Dc, "operator").expect("activated");
        assert_eq!(SiteState::load(&file, 3).expect("reloaded").active(), Site::Dc);
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn a_busy_or_read_only_dc_keeps_traffic_while_dr_cannot_take_writes() {
        let (state, file) = fresh();
        for _ in 0..10 {
            state.observe(round(READ_ONLY, READ_ONLY));
            state.observe(round(UP, DOWN));
        }
        assert_eq!(state.active(), Site::Dc, "sites switching, or DR away: stay");
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn traffic_follows_writes_to_dr_after_a_failover_and_back_to_dc_when_dr_never_took_them() {
        let (state, file) = fresh();
        for _ in 0..3 {
            state.observe(round(READ_ONLY, UP));
        }
        assert_eq!(state.active(), Site::Dr, "DR took over the writes");
        let _ = std::fs::remove_file(&file);

        // DC's app was killed with its database primary: DR serves reads meanwhile...
        let (state, file) = fresh();
        for _ in 0..3 {
            state.observe(round(DOWN, READ_ONLY));
        }
        assert_eq!(state.active(), Site::Dr);
        // ...and DC, back and writable, takes the traffic back.
        state.observe(round(UP, READ_ONLY));
        state.observe(round(UP, READ_ONLY));
        assert_eq!(state.active(), Site::Dr, "only after the threshold");
        state.observe(round(UP, READ_ONLY));
        assert_eq!(state.active(), Site::Dc);
        assert!(
            state
                .last_move()
                .expect("moved")
                .why
                .contains("DC takes writes and DR does not")
        );
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn without_dr_members_traffic_never_moves() {
        let (state, file) = fresh();
        for _ in 0..5 {
            state.observe(Round { dc: DOWN, dr: None });
        }
        assert_eq!(state.active(), Site::Dc);
        let _ = std::fs::remove_file(file);
    }
}
