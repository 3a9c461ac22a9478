//! The public listener's allow-list: the routes customers use, and nothing else. A route that
//! is not listed (every staff route, and any route added later until someone lists it) answers
//! 404 there, so a stolen staff token is worth nothing outside the VPN.
//!
//! A rule is `METHODS PATTERN`: methods separated by commas (`GET,POST`), or `*` for any; `GET`
//! also allows `HEAD`. The pattern is matched segment by segment: a literal, `*` for exactly
//! one segment (an id), and a final `**` for any rest, including none.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// One allowed route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RouteRule {
    /// None: any method.
    methods: Option<Vec<http::Method>>,
    segments: Vec<Segment>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Rest,
}

impl FromStr for RouteRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (methods, pattern) = text
            .split_once(' ')
            .ok_or_else(|| format!("route `{text}`: expected `METHODS /path`"))?;
        let methods = match methods {
            "*" => None,
            list => Some(
                list.split(',')
                    .map(|m| http::Method::from_bytes(m.as_bytes()).map_err(|_| format!("route `{text}`: `{m}` is not a method")))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let pattern = pattern
            .trim()
            .strip_prefix('/')
            .ok_or_else(|| format!("route `{text}`: the path starts with /"))?;
        let parts: Vec<&str> = if pattern.is_empty() {
            vec![]
        } else {
            pattern.split('/').collect()
        };
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(format!("route `{text}`: `**` only ends a path")),
                "*" => Segment::One,
                "" => return Err(format!("route `{text}`: empty segment")),
                literal => Segment::Literal(literal.to_owned()),
            });
        }
        Ok(Self {
            methods,
            segments,
            text: text.to_owned(),
        })
    }
}

impl TryFrom<String> for RouteRule {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<RouteRule> for String {
    fn from(rule: RouteRule) -> String {
        rule.text
    }
}

impl fmt::Display for RouteRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl RouteRule {
    /// Whether a request with this method and path is allowed by this rule.
    pub fn allows(&self, method: &http::Method, path: &str) -> bool {
        let method_ok = self.methods.as_ref().is_none_or(|methods| {
            methods
                .iter()
                .any(|m| m == method || (m == http::Method::GET && method == http::Method::HEAD))
        });
        method_ok && self.matches(path)
    }

    fn matches(&self, path: &str) -> bool {
        let Some(path) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = (!path.is_empty()).then(|| path.split('/')).into_iter().flatten();
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::One => {
                    if parts.next().is_none_or(str::is_empty) {
                        return false;
                    }
                }
                Segment::Literal(literal) => {
                    if parts.next() != Some(literal.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

/// The routes the shop's customers use today (the web shop's pages, and the API of the web
/// and mobile apps). The staff API, the services' probes and metrics, and anything new are not
/// among them.
pub fn customer_routes() -> Vec<RouteRule> {
    [
        // The web shop.
        "GET /",
        "GET /categories/*",
        "GET /search",
        "GET /products/*",
        "GET /cart",
        "POST /cart/lines",
        "POST /cart/lines/*",
        "POST /cart/codes",
        "GET,POST /checkout",
        "GET /account",
        "GET,POST /account/sign-in",
        "GET,POST /account/sign-up",
        "POST /account/sign-out",
        "GET /account/orders/*",
        "GET,POST /account/support",
        "GET,POST /account/support/*",
        "POST /account/preferences",
        "GET /account/data.json",
        "POST /account/erase",
        "GET,POST /account/forgot-password",
        "GET,POST /reset-password",
        "GET /help/*",
        "POST /language",
        "GET /robots.txt",
        "GET /sitemap.xml",
        "GET /assets/*",
        "GET /images/*/*",
        // The API.
        "GET /api/v1/openapi.json",
        "GET /api/v1/docs",
        "GET /api/v1/docs/**",
        "GET /api/v1/catalog/categories",
        "GET /api/v1/catalog/product-types",
        "GET /api/v1/catalog/products",
        "GET /api/v1/catalog/products/*",
        "GET /api/v1/cart",
        "GET /api/v1/cart/prices",
        "PUT /api/v1/cart/codes",
        "POST /api/v1/cart/lines",
        "PATCH,DELETE /api/v1/cart/lines/*",
        "GET /api/v1/identity/jwks.json",
        "POST /api/v1/identity/register",
        "POST /api/v1/identity/token",
        "POST /api/v1/identity/logout",
        "POST /api/v1/identity/password-reset",
        "POST /api/v1/identity/password-reset/confirm",
        "GET /api/v1/identity/me",
        "GET /api/v1/identity/me/export",
        "POST /api/v1/identity/me/erase",
        "GET,PUT /api/v1/identity/me/preferences",
        "GET,POST /api/v1/orders",
        "GET /api/v1/orders/*",
        "POST /api/v1/orders/*/cancel",
        "GET /api/v1/orders/*/tax-invoice",
        "GET /api/v1/promotions/memberships",
        "GET /api/v1/promotions/current",
        "GET /api/v1/payments/orders/*",
        "GET /api/v1/recommendations",
        "GET,POST /api/v1/support/tickets",
        "GET /api/v1/support/tickets/*",
        "POST /api/v1/support/tickets/*/messages",
        "POST /api/v1/payments/orders/*/payhere",
        "POST /api/v1/payments/orders/*/cod",
        "POST /api/v1/payments/orders/*/bank-transfer",
        // PayHere's server-to-server notifications: believed only when signed.
        "POST /api/v1/payments/payhere/notify",
    ]
    .into_iter()
    .map(|rule| rule.parse().expect("the built-in routes parse"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn rule(text: &str) -> RouteRule {
        text.parse().expect("a rule")
    }

    #[test]
    fn literals_and_one_segment_wildcards_match_whole_paths_only() {
        let cancel = rule("POST /api/v1/orders/*/cancel");
        assert!(cancel.allows(&Method::POST, "/api/v1/orders/0193a6c2/cancel"));
        assert!(!cancel.allows(&Method::POST, "/api/v1/orders/0193a6c2/status"));
        assert!(!cancel.allows(&Method::POST, "/api/v1/orders//cancel"));
        assert!(!cancel.allows(&Method::POST, "/api/v1/orders/a/b/cancel"));
        assert!(!cancel.allows(&Method::POST, "/api/v1/orders/a/cancel/"));
        assert!(!cancel.allows(&Method::GET, "/api/v1/orders/a/cancel"));
        let product = rule("GET /api/v1/catalog/products/*");
        assert!(
            product.allows(&Method::HEAD, "/api/v1/catalog/products/p1"),
            "GET allows HEAD"
        );
        assert!(!product.allows(&Method::GET, "/api/v1/catalog/products"));
        assert!(!product.allows(&Method::GET, "/api/v1/catalog/products/p1/archive"));
    }

    #[test]
    fn a_final_double_star_matches_any_rest_and_a_star_method_any_method() {
        let docs = rule("GET /api/v1/docs/**");
        assert!(docs.allows(&Method::GET, "/api/v1/docs/"));
        assert!(docs.allows(&Method::GET, "/api/v1/docs/swagger-ui.css"));
        assert!(!docs.allows(&Method::GET, "/api/v1/docsx"));
        let all = rule("* /**");
        assert!(all.allows(&Method::DELETE, "/anything/at/all") && all.allows(&Method::GET, "/"));
    }

    #[test]
    fn malformed_rules_are_refused() {
        for bad in ["/api", "GET api", "GET /a/**/b", "G@T /a", "GET /a//b"] {
            assert!(bad.parse::<RouteRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn staff_routes_are_not_among_the_customer_routes() {
        let routes = customer_routes();
        let allowed = |method: Method, path: &str| routes.iter().any(|r| r.allows(&method, path));
        assert!(allowed(Method::GET, "/api/v1/catalog/products/p1"));
        assert!(allowed(Method::POST, "/api/v1/orders"));
        for (method, path) in [
            (Method::POST, "/api/v1/catalog/categories"),
            (Method::PATCH, "/api/v1/catalog/variants/v1"),
            (Method::POST, "/api/v1/catalog/products/p1/archive"),
            (Method::POST, "/api/v1/orders/o1/status"),
            (Method::GET, "/api/v1/identity/staff/customers"),
            (Method::POST, "/api/v1/identity/staff/token"),
            (Method::GET, "/api/v1/inventory/variants/v1/stock"),
            (Method::GET, "/metrics"),
            (Method::GET, "/readyz"),
            (Method::GET, "/healthz"),
            (Method::GET, "/backoffice/"),
            (Method::GET, "/internal/v1/orders"),
            (Method::POST, "/api/v1/payments/staff/orders/o1/refunds"),
            (Method::GET, "/api/v1/payments/staff/exceptions"),
            (Method::POST, "/api/v1/fulfilment/orders/o1/ship"),
        ] {
            assert!(!allowed(method.clone(), path), "{method} {path}");
        }
    }
}
