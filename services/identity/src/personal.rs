//! Customers' personal data: sealed on the way in, opened for the customer, masked for staff
//! (revealed with a reason, audited), exported and erased on request, and kept under current
//! keys by the rotation passes.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use pola_core::{Error, auth::Role, auth::Staff, db::is_duplicate_key, http::current_request_id};
use pola_pii::{
    BlindKeys, DataKey, mask,
    seal::{Place, open, seal},
};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    Identity,
    model::{Contact, CustomerExport, CustomerProfile, NewCustomer, PiiField, Preferences, Revealed, StaffAccess},
    store::{self, Indexes, Lookup, Pass, SealedCustomer, StoredCustomer},
};

fn place(id: Uuid, column: &'static str) -> Place<'static> {
    Place {
        table: "customers",
        column,
        record: id,
    }
}

/// A customer's fields, opened.
struct Opened {
    email: String,
    name: String,
    phone: Option<String>,
    nic: Option<String>,
}

fn open_customer(row: &StoredCustomer, key: &DataKey) -> Result<Opened, Error> {
    let field = |column, sealed: &Option<Vec<u8>>| {
        sealed
            .as_deref()
            .map(|s| open(key, place(row.id, column), s).map_err(Error::from))
            .transpose()
    };
    let erased = || Error::Gone("This customer's personal data was erased.".into());
    Ok(Opened {
        email: field("email", &row.email_sealed)?.ok_or_else(erased)?,
        name: field("name", &row.name_sealed)?.ok_or_else(erased)?,
        phone: field("phone", &row.phone_sealed)?,
        nic: field("nic", &row.nic_sealed)?,
    })
}

/// How long the background re-indexer sleeps when nothing is left to do.
const REINDEX_IDLE: Duration = Duration::from_secs(5);
/// Rows per step of a background pass.
const PASS_BATCH: u32 = 200;

impl Identity {
    /// The live customers whose `lookup` is `normalized`, matched under every blind-index key
    /// version (rows a re-indexing pass has not reached yet match too). With `refresh`, when
    /// nothing matches, the keys are asked for again once: another process may have rotated
    /// them and re-indexed.
    pub(crate) async fn find(
        &self,
        lookup: Lookup,
        normalized: &str,
        limit: u32,
        refresh: bool,
    ) -> Result<Vec<(Uuid, Option<String>)>, Error> {
        let keys = self.pii.blind_index_keys().await.map_err(Error::from)?;
        let found = store::customers_by_index(&self.pool, lookup, &keys.candidates(lookup.kind(), normalized), limit).await?;
        if !found.is_empty() || !refresh {
            return Ok(found);
        }
        let fresh = self.pii.refresh_blind_index_keys().await.map_err(Error::from)?;
        if fresh.current() == keys.current() {
            return Ok(found);
        }
        Ok(store::customers_by_index(&self.pool, lookup, &fresh.candidates(lookup.kind(), normalized), limit).await?)
    }

    /// Registers a customer: a new data key (kept by the key service) seals their email, name,
    /// phone and NIC; email, phone and NIC are found again through blind indexes. Nothing
    /// personal is stored in clear, and nothing at all when the key service is unreachable.
    pub async fn register(&self, new: NewCustomer) -> Result<CustomerProfile, Error> {
        let taken = || Error::conflict("email-taken", "An account with this email already exists; sign in instead.");
        let hash = self.hashing.hash(new.password.into_inner()).await?;
        let email = new.email.as_str();
        // The unique key covers the current blind-index version; this covers rows a
        // re-indexing pass has not reached yet.
        if !self.find(Lookup::Email, email, 1, false).await?.is_empty() {
            return Err(taken());
        }
        let blind = self.pii.blind_index_keys().await.map_err(Error::from)?;
        let id = pola_core::new_id();
        let (data_key, key_version) = self.pii.create_data_key(id).await.map_err(Error::from)?;
        let phone = new.phone.as_ref().map(|p| p.as_str());
        let nic = new.nic.as_ref().map(|n| n.as_str());
        let sealed = SealedCustomer {
            id,
            email_index: blind.index("email", email),
            phone_index: phone.map(|p| blind.index("phone", p)),
            nic_index: nic.map(|n| blind.index("nic", n)),
            key_version,
            blind_version: blind.current(),
            email_sealed: seal(&data_key, place(id, "email"), email),
            name_sealed: seal(&data_key, place(id, "name"), new.name.as_str()),
            phone_sealed: phone.map(|p| seal(&data_key, place(id, "phone"), p)),
            nic_sealed: nic.map(|n| seal(&data_key, place(id, "nic"), n)),
            language: new.language,
        };
        if let Err(e) = store::insert_customer(&self.pool, &sealed, &hash).await {
            // No row points at the new key: leave no orphan behind.
            if let Err(destroy) = self.pii.destroy(id).await {
                tracing::warn!(customer.id = %id, error = %destroy, "orphan data key left after a failed registration");
            }
            return Err(if is_duplicate_key(&e, "uq_customers_email") {
                taken()
            } else {
                e.into()
            });
        }
        tracing::info!(customer.id = %id, "customer registered");
        Ok(CustomerProfile {
            id,
            email: email.to_owned(),
            name: new.name.as_str().to_owned(),
            phone: phone.map(str::to_owned),
            nic: nic.map(str::to_owned),
            registered_at: Utc::now(),
        })
    }

    async fn stored(&self, id: Uuid) -> Result<StoredCustomer, Error> {
        let row = store::customer(&self.pool, id)
            .await?
            .ok_or_else(|| Error::not_found("No such customer."))?;
        if row.erased_at.is_some() {
            return Err(Error::Gone("This customer's personal data was erased.".into()));
        }
        Ok(row)
    }

    async fn opened(&self, row: &StoredCustomer) -> Result<Opened, Error> {
        let key = self.pii.data_key(row.id).await.map_err(Error::from)?;
        open_customer(row, &key)
    }

    /// A customer's profile, opened with their data key.
    pub async fn profile(&self, id: Uuid) -> Result<CustomerProfile, Error> {
        let row = self.stored(id).await?;
        let opened = self.opened(&row).await?;
        Ok(CustomerProfile {
            id,
            email: opened.email,
            name: opened.name,
            phone: opened.phone,
            nic: opened.nic,
            registered_at: row.created_at,
        })
    }

    /// How the customer wants to hear from the shop.
    pub async fn preferences(&self, id: Uuid) -> Result<Preferences, Error> {
        Ok(self.stored(id).await?.preferences)
    }

    pub async fn set_preferences(&self, id: Uuid, preferences: Preferences) -> Result<Preferences, Error> {
        if !store::set_preferences(&self.pool, id, &preferences).await? {
            return Err(Error::Gone("This customer's personal data was erased.".into()));
        }
        Ok(preferences)
    }

    /// Name, email, phone and preferences, opened now for a notification; None once the
    /// customer was erased (or never existed): there is no one to write to.
    pub async fn contact(&self, id: Uuid) -> Result<Option<Contact>, Error> {
        let row = match self.stored(id).await {
            Ok(row) => row,
            Err(Error::Gone(_) | Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let opened = self.opened(&row).await?;
        Ok(Some(Contact {
            id,
            name: opened.name,
            email: opened.email,
            phone: opened.phone,
            preferences: row.preferences,
        }))
    }

    /// Everything Pola holds about the customer, opened: profile, sign-ins, staff access to
    /// their data, and the other services' parts (orders with their delivery addresses).
    pub async fn export(&self, id: Uuid) -> Result<CustomerExport, Error> {
        let profile = self.profile(id).await?;
        let sessions = store::sessions(&self.pool, id).await?;
        let staff_access = store::reveals(&self.pool, id)
            .await?
            .into_iter()
            .map(|r| StaffAccess {
                field: r.field,
                reason: r.reason,
                at: r.at,
            })
            .collect();
        let mut services = std::collections::BTreeMap::new();
        for source in &self.elsewhere {
            services.insert(source.section(), source.export(id).await?);
        }
        tracing::info!(customer.id = %id, "personal data exported");
        Ok(CustomerExport {
            exported_at: Utc::now(),
            profile,
            sessions,
            staff_access,
            services,
        })
    }

    /// Erases a customer (PDPA right to erasure), after checking their password: their data key
    /// is destroyed first — from then on their data is unreadable in every copy of every
    /// database, the DR replica and old backups included — then their row is cleared and their
    /// sign-ins revoked. Orders keep their non-personal facts. Running it again after a failure
    /// half-way finishes the job.
    pub async fn erase(&self, id: Uuid, password: String) -> Result<(), Error> {
        let wrong = || Error::Forbidden("The password is wrong.".into());
        let Some(hash) = store::customer_password(&self.pool, id).await? else {
            self.hashing.verify_dummy(password).await?;
            return Err(Error::Gone("This account was already erased.".into()));
        };
        if !self.hashing.verify(password, hash).await? {
            return Err(wrong());
        }
        self.pii.destroy(id).await.map_err(Error::from)?;
        store::erase_customer(&self.pool, id).await?;
        tracing::info!(customer.id = %id, "customer erased: data key destroyed, personal data cleared");
        Ok(())
    }

    /// Staff search by email, phone or NIC (exactly one), through the blind indexes; the
    /// matches come back masked. For support, and for the staff who find a customer's orders by
    /// their email, phone or NIC (fulfilment, finance).
    pub async fn search(&self, staff: &Staff, lookup: Lookup, normalized: &str) -> Result<Vec<CustomerProfile>, Error> {
        staff.require_any(&[Role::Support, Role::Fulfilment, Role::Finance])?;
        let mut found = vec![];
        for (id, _) in self.find(lookup, normalized, 20, true).await? {
            found.push(self.masked(id).await?);
        }
        tracing::info!(staff.id = %staff.id, lookup = lookup.kind(), matches = found.len(), "staff searched customers");
        Ok(found)
    }

    /// One customer, masked, for the staff who work their orders and requests.
    pub async fn staff_profile(&self, staff: &Staff, id: Uuid) -> Result<CustomerProfile, Error> {
        staff.require_any(&[Role::Support, Role::Fulfilment, Role::Finance])?;
        self.masked(id).await
    }

    async fn masked(&self, id: Uuid) -> Result<CustomerProfile, Error> {
        let row = self.stored(id).await?;
        let opened = self.opened(&row).await?;
        Ok(CustomerProfile {
            id,
            email: mask::email(&opened.email),
            name: mask::name(&opened.name),
            phone: opened.phone.as_deref().map(mask::phone),
            nic: opened.nic.as_deref().map(mask::nic),
            registered_at: row.created_at,
        })
    }

    /// Reveals one field of a customer to a support or admin staff member. The audit row is
    /// written first: no row, no reveal.
    pub async fn reveal(&self, staff: &Staff, id: Uuid, field: PiiField, reason: &str) -> Result<Revealed, Error> {
        require_support(staff)?;
        let reason = reason.trim();
        if !(10..=500).contains(&reason.chars().count()) {
            return Err(Error::field("reason", "say why, in 10 to 500 characters"));
        }
        let row = self.stored(id).await?;
        let opened = self.opened(&row).await?;
        let value = match field {
            PiiField::Email => Some(opened.email),
            PiiField::Name => Some(opened.name),
            PiiField::Phone => opened.phone,
            PiiField::Nic => opened.nic,
        };
        let reveal = store::Reveal {
            id: pola_core::new_id(),
            staff_id: staff.id,
            customer_id: id,
            field: field.as_str().to_owned(),
            reason: reason.to_owned(),
            request_id: current_request_id().unwrap_or_default(),
            at: Utc::now(),
        };
        // Kept twice in one transaction: in the customer's own list of reveals (their data export
        // shows it) and in the trail of staff writes the admins search.
        let mut tx = self.pool.begin().await?;
        store::insert_reveal(&mut tx, &reveal).await?;
        let change = pola_core::audit::Change::new("customer.reveal", "customer", id)
            .after(serde_json::json!({"field": field.as_str(), "reason": reason}));
        pola_core::audit::record(&mut *tx, staff, change).await?;
        tx.commit().await?;
        tracing::info!(staff.id = %staff.id, customer.id = %id, pii.field = field.as_str(), "personal data revealed to staff");
        Ok(Revealed { field, value })
    }

    /// The audit trail of reveals of one customer's data (admin only).
    pub async fn reveals(&self, staff: &Staff, customer: Uuid) -> Result<Vec<store::Reveal>, Error> {
        staff.require(Role::Admin)?;
        Ok(store::reveals(&self.pool, customer).await?)
    }

    /// Makes a new key-encryption key version current (`pola keys rotate`). Data keys wrapped by
    /// the old one keep working until `rewrap_batch` has moved them.
    pub async fn rotate_key_encryption_key(&self) -> Result<u32, Error> {
        let version = self.pii.rotate().await.map_err(Error::from)?;
        tracing::info!(pii.key_version = version, "key-encryption key rotated");
        Ok(version)
    }

    /// Makes a new blind-index key version current; running servers re-index in the background
    /// (`spawn_reindexer`), and look-ups match either version meanwhile.
    pub async fn rotate_blind_index_key(&self) -> Result<u32, Error> {
        let version = self.pii.rotate_blind_index().await.map_err(Error::from)?;
        tracing::info!(pii.blind_version = version, "blind-index key rotated");
        Ok(version)
    }

    /// How many customers `pass` has left: data keys wrapped by an older key-encryption key, or
    /// indexes made with an older blind-index key.
    pub async fn left(&self, pass: Pass) -> Result<i64, Error> {
        let current = self.current(pass).await?;
        Ok(store::count_behind(&self.pool, pass, current).await?)
    }

    async fn current(&self, pass: Pass) -> Result<u32, Error> {
        match pass {
            Pass::Rewrap => self.pii.current_version().await.map_err(Error::from),
            Pass::Reindex => Ok(self.pii.blind_index_keys().await.map_err(Error::from)?.current()),
        }
    }

    /// Moves up to `limit` customers forward in `pass`; returns how many (0 when none are left).
    /// Each customer is its own step, so a pass stopped half-way resumes where it stopped, and
    /// sign-ins and reads go on meanwhile (a data key's bytes never change, and look-ups try
    /// every blind-index version).
    pub async fn step(&self, pass: Pass, limit: u32) -> Result<u64, Error> {
        // One read of the blind-index keys gives both the version to reach and the keys to
        // reach it with, so the two cannot disagree.
        let blind = match pass {
            Pass::Reindex => Some(self.pii.blind_index_keys().await.map_err(Error::from)?),
            Pass::Rewrap => None,
        };
        let current = match &blind {
            Some(blind) => blind.current(),
            None => self.pii.current_version().await.map_err(Error::from)?,
        };
        let mut done = 0;
        for id in store::behind(&self.pool, pass, current, limit).await? {
            let moved = match &blind {
                None => {
                    let version = self.pii.rewrap(id).await.map_err(Error::from)?;
                    store::set_key_version(&self.pool, id, version).await?;
                    true
                }
                Some(blind) => self.reindex(id, blind).await?,
            };
            done += u64::from(moved);
        }
        Ok(done)
    }

    async fn reindex(&self, id: Uuid, blind: &BlindKeys) -> Result<bool, Error> {
        let Some(row) = store::customer(&self.pool, id).await? else {
            return Ok(false);
        };
        let opened = match self.opened(&row).await {
            Ok(opened) => opened,
            // Erased meanwhile: nothing to index.
            Err(Error::Gone(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let indexes = Indexes {
            email: Some(blind.index("email", &opened.email)),
            phone: opened.phone.as_deref().map(|p| blind.index("phone", p)),
            nic: opened.nic.as_deref().map(|n| blind.index("nic", n)),
            version: blind.current(),
        };
        Ok(store::replace_indexes(&self.pool, id, row.blind_version, &indexes).await?)
    }

    /// Re-indexes in the background after a blind-index key rotation, in batches, until stopped.
    pub fn spawn_reindexer(self: &Arc<Self>, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let identity = self.clone();
        tokio::spawn(async move {
            loop {
                let pause = match identity.step(Pass::Reindex, PASS_BATCH).await {
                    Ok(0) => REINDEX_IDLE,
                    Ok(done) => {
                        let left = identity.left(Pass::Reindex).await.unwrap_or(-1);
                        tracing::info!(
                            pii.reindexed = done,
                            pii.left = left,
                            "re-indexing after a blind-index key rotation"
                        );
                        Duration::ZERO
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "re-indexing failed; retrying");
                        REINDEX_IDLE
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => return,
                }
            }
        })
    }
}

fn require_support(staff: &Staff) -> Result<(), Error> {
    staff.require(Role::Support)
}
