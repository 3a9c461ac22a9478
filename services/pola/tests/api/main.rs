//! Integration tests of the whole API, against a real MariaDB (the one `make test` starts),
//! each test with its own databases and its own server on a free port.

mod backoffice;
mod bad_input;
mod browser;
mod cart;
mod catalog;
mod concurrency;
mod events;
mod harness;
mod identity;
mod notifications;
mod openapi;
mod orders;
mod payments;
mod pii;
mod platform;
mod promotions;
mod readme;
mod recommendations;
mod roles;
mod split;
mod staff;
mod storefront;
mod support;
mod tour;
