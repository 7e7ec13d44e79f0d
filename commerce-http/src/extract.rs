//! Reading requests the same way on every route: JSON bodies (content type,
//! size, syntax, unknown fields), query strings, paging, request ids.
//!
//! | problem | answer |
//! | --- | --- |
//! | body over [`MAX_BODY_BYTES`] (declared or streamed) | 413 `payload_too_large` |
//! | content type other than `application/json` | 415 `unsupported_media_type` |
//! | not JSON, or not UTF-8 | 400 `bad_request` |
//! | JSON of the wrong shape, an unknown field | 422 `validation_failed` naming the field |
//! | a query parameter of the wrong shape | 422 `validation_failed` |

use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use crate::error::ApiError;

/// The largest request body accepted: 1 MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest page.
pub const MAX_PER_PAGE: u32 = 100;
/// The default page size.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// 413 `payload_too_large`.
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// 415 `unsupported_media_type`.
pub fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as application/json",
    )
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses JSON into `T`, mapping errors to the API's answers.
///
/// # Errors
/// 400 for broken JSON, 422 (naming the field) for the wrong shape.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                // serde_json appends " at line L column C"; clients need the rule.
                let message = message
                    .rsplit_once(" at line ")
                    .map_or(message.as_str(), |(m, _)| m)
                    .to_owned();
                let field = if path == "." {
                    unknown_field(&message)
                        .or_else(|| missing_field(&message))
                        .unwrap_or_else(|| "body".to_owned())
                } else {
                    path
                };
                ApiError::validation(field, message)
            }
            _ => ApiError::bad_request(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    // Trailing garbage after the value is broken JSON too.
    de.end()
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(f, _)| f.to_owned())
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(f, _)| f.to_owned())
}

/// The raw body, at most [`MAX_BODY_BYTES`], whatever its declared length.
pub fn limited_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and_then(|len: Option<u64>| async move {
            match len {
                Some(n) if n > MAX_BODY_BYTES as u64 => Err(warp::reject::custom(too_large())),
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::stream())
        .and_then(collect_limited)
}

async fn collect_limited<St, B>(stream: St) -> Result<bytes::Bytes, Rejection>
where
    St: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    futures_util::pin_mut!(stream);
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|e| {
            warp::reject::custom(ApiError::bad_request(format!(
                "the body could not be read: {e}"
            )))
        })?;
        if buf.len() + chunk.remaining() > MAX_BODY_BYTES {
            return Err(warp::reject::custom(too_large()));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            buf.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}

/// A JSON body of type `T` (which should `deny_unknown_fields`).
pub fn json<T: DeserializeOwned + Send + 'static>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    json_and_raw::<T>().map(|(t, _): (T, bytes::Bytes)| t)
}

/// [`json`], with the raw body too (an idempotency fingerprint reads it).
pub fn json_and_raw<T: DeserializeOwned + Send + 'static>()
-> impl Filter<Extract = ((T, bytes::Bytes),), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|ct: Option<String>| async move {
            match ct {
                Some(ct) if is_json(&ct) => Ok(()),
                _ => Err(warp::reject::custom(unsupported_media_type())),
            }
        })
        .untuple_one()
        .and(limited_body())
        .and_then(|body: bytes::Bytes| async move {
            parse_json::<T>(&body)
                .map(|t| (t, body))
                .map_err(warp::reject::custom)
        })
}

/// An optional JSON body: none (or only whitespace) is `T::default()`;
/// otherwise as [`json`] (a JSON content type, `application/json` or
/// `application/*+json`, else 415).
pub fn optional_json<T: DeserializeOwned + Default + Send + 'static>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    optional_json_and_raw::<T>().map(|(t, _): (T, bytes::Bytes)| t)
}

/// [`optional_json`], with the raw body too.
pub fn optional_json_and_raw<T: DeserializeOwned + Default + Send + 'static>()
-> impl Filter<Extract = ((T, bytes::Bytes),), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and(limited_body())
        .and_then(|ct: Option<String>, body: bytes::Bytes| async move {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok((T::default(), body));
            }
            if !ct.as_deref().is_some_and(is_json) {
                return Err(warp::reject::custom(unsupported_media_type()));
            }
            parse_json::<T>(&body)
                .map(|t| (t, body))
                .map_err(warp::reject::custom)
        })
}

/// A query string parsed into `T`; a bad parameter is 422 naming it.
pub fn query<T: DeserializeOwned + Send + 'static>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and_then(|raw: String| async move {
            let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
            serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                let field = if path == "." {
                    unknown_field(&message).unwrap_or_else(|| "query".to_owned())
                } else {
                    path
                };
                warp::reject::custom(ApiError::validation(field, message))
            })
        })
}

/// `?page=&per_page=`: 1-based page, 1 to [`MAX_PER_PAGE`] per page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// The page, from 1 (default 1).
    #[serde(default, deserialize_with = "opt_num")]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[serde(default, deserialize_with = "opt_num")]
    pub per_page: Option<u32>,
}

impl Paging {
    /// The page and size, checked.
    ///
    /// # Errors
    /// 422 for page 0 or a size outside 1..=100.
    pub fn resolve(self) -> Result<(u32, u32), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(ApiError::validation("page", "pages start at 1"));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::validation(
                "per_page",
                format!("between 1 and {MAX_PER_PAGE}"),
            ));
        }
        Ok((page, per_page))
    }
}

/// Numbers in query strings arrive as text; an empty value means absent.
pub fn opt_num<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => t.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// A page of items, as every list answers.
#[derive(Debug, Clone, Serialize)]
pub struct PageBody<T> {
    /// The items.
    pub items: Vec<T>,
    /// 1-based page.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Items across all pages.
    pub total: u64,
}

/// One page of `all` (already in the list's order) as the page body, each
/// item converted to its wire form; `total` counts every item.
pub fn page_of<T, U: From<T>>(all: Vec<T>, page: u32, per_page: u32) -> PageBody<U> {
    let total = all.len() as u64;
    let skip = usize::try_from(u64::from(page.saturating_sub(1)) * u64::from(per_page))
        .unwrap_or(usize::MAX);
    let items = all
        .into_iter()
        .skip(skip)
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .map(U::from)
        .collect();
    PageBody {
        items,
        page,
        per_page,
        total,
    }
}

/// The header carrying a request's id.
pub const REQUEST_ID: &str = "x-request-id";

/// A request id worth echoing: 1 to 128 of `A-Z a-z 0-9 - _ . : /`.
pub fn sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
}

/// The request's id: a sane incoming `X-Request-Id`, or a new UUID v7.
pub fn request_id() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>(REQUEST_ID)
        .or(warp::any().map(|| None))
        .unify()
        .map(|h: Option<String>| match h {
            Some(id) if sane_request_id(&id) => id,
            _ => uuid::Uuid::now_v7().to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
        #[serde(default)]
        count: u32,
    }

    #[test]
    fn json_errors_are_told_apart() {
        assert_eq!(
            parse_json::<Body>(br#"{"name":"a","count":2}"#).unwrap(),
            Body {
                name: "a".into(),
                count: 2
            }
        );
        let broken = parse_json::<Body>(br#"{"name":"#).unwrap_err();
        assert_eq!((broken.status.as_u16(), broken.code), (400, "bad_request"));
        let trailing = parse_json::<Body>(br#"{"name":"a"} x"#).unwrap_err();
        assert_eq!(trailing.status.as_u16(), 400);
        let unknown = parse_json::<Body>(br#"{"name":"a","roles":["admin"]}"#).unwrap_err();
        assert_eq!(
            (unknown.status.as_u16(), unknown.code),
            (422, "validation_failed")
        );
        assert_eq!(unknown.errors[0].field, "roles");
        let wrong = parse_json::<Body>(br#"{"name":"a","count":"x"}"#).unwrap_err();
        assert_eq!(wrong.errors[0].field, "count");
        let missing = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(missing.status.as_u16(), 422);
        assert_eq!(missing.errors[0].field, "name");
    }

    #[test]
    fn content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }

    #[test]
    fn paging_bounds() {
        let p = |page, per_page| Paging { page, per_page }.resolve();
        assert_eq!(p(None, None).unwrap(), (1, 20));
        assert_eq!(p(Some(3), Some(100)).unwrap(), (3, 100));
        assert_eq!(p(Some(0), None).unwrap_err().errors[0].field, "page");
        assert_eq!(p(None, Some(101)).unwrap_err().errors[0].field, "per_page");
        assert_eq!(p(None, Some(0)).unwrap_err().errors[0].field, "per_page");
    }

    #[test]
    fn request_ids() {
        assert!(sane_request_id("abc-123_x.y"));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("a b"));
        assert!(!sane_request_id("<script>"));
        assert!(!sane_request_id(&"a".repeat(129)));
    }
}
