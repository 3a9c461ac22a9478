//! Recommendations: "customers also bought", from paid orders. Today the ranking itself
//! (`model.rs`: co-occurrence ranked by cosine similarity, a minimum support, bestsellers to fill)
//! and its offline measure against a bestseller baseline; keeping it current from order events,
//! its own database and the pages' suggestions come next (issue 15).

pub mod model;
