//! Keyset pagination: `?limit=&cursor=`, where the cursor is the opaque position after the last
//! item of the previous page. Stable under inserts, and as fast on page 500 as on page 1.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{Error, FieldError};

/// Most items one page may hold.
pub const MAX_LIMIT: u32 = 100;
/// Items on a page when the client does not say.
pub const DEFAULT_LIMIT: u32 = 20;

/// The paging part of a list query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct PageParams {
    /// Items per page, 1 to 100. Default 20.
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub limit: u32,
    /// The last id of the previous page.
    pub after: Option<Uuid>,
}

impl PageParams {
    pub fn parse(&self) -> Result<PageRequest, Error> {
        let mut errors = vec![];
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => match decode_cursor(c) {
                Some(id) => Some(id),
                None => {
                    errors.push(FieldError::new("cursor", "is not a cursor this API gave out"));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(PageRequest { limit, after })
        } else {
            Err(Error::Validation(errors))
        }
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in order: the extra row only says that
    /// there is a next page.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> Uuid) -> Self {
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|last| encode_cursor(id(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let params = PageParams {
            limit: Some(5),
            cursor: Some(encode_cursor(id)),
        };
        assert_eq!(
            params.parse().expect("valid"),
            PageRequest {
                limit: 5,
                after: Some(id)
            }
        );
        let bad = PageParams {
            limit: Some(100_000),
            cursor: Some("not a cursor!".into()),
        };
        let Err(Error::Validation(errors)) = bad.parse() else {
            panic!("expected validation errors")
        };
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn the_extra_row_makes_the_next_cursor() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_rows(ids.clone(), 3, |id| *id);
        assert_eq!(page.items.len(), 3);
        assert_eq!(page.next_cursor, Some(encode_cursor(ids[2])));
        let last = Page::from_rows(ids[..2].to_vec(), 3, |id| *id);
        assert_eq!(last.next_cursor, None);
    }
}
