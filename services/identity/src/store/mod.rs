//! Identity's SQL, by concern: customers, sign-ins (refresh tokens), staff's reveals of customers'
//! data, password resets, the passes that move customers to new keys, and staff accounts.

mod customers;
mod rekey;
mod resets;
mod reveals;
pub mod staff;
mod tokens;

pub use customers::{
    Account, CustomerRegistered, Lookup, SealedCustomer, StoredCustomer, customer, customer_password, customers_by_index,
    erase_customer, insert_customer, set_preferences,
};
pub use rekey::{Indexes, Pass, behind, count_behind, replace_indexes, set_key_version};
pub use resets::{
    PasswordResetRequested, StoredReset, insert_reset, live_reset, newest_live_reset, resets_since, use_reset, wrong_code,
};
pub use reveals::{Reveal, insert_reveal, reveals};
pub use staff::{insert_staff, staff_roles};
pub use tokens::{Rotation, Session, insert_refresh_token, revoke_family_of, rotate_refresh_token, sessions};
