//! Staff reports, read straight from the standby site's databases with `mysql_async`, so that
//! reporting never loads the primary that takes orders: sales, products, stock, money, customers,
//! carts and support, as tables, CSV, JSON and SVG charts, for the back-office and `pola report`.

pub mod api;
pub mod chart;
pub mod reports;
pub mod source;
pub mod summary;
pub mod table;

pub use reports::{Report, Request, SalesBy, run};
pub use source::{Error, Freshness, Reporting, Role};
pub use table::{Cell, Kind, Period, Table};
