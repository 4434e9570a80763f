//! Request bodies: JSON objects only, bodies that must be empty (or any
//! JSON), and the collection of field errors while parsing a body into
//! domain values.

use std::fmt;
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::auth::{ApiError, FieldError};
use crate::domain::ParseError;

/// A JSON request body: `web::Json<Object<T>>` reads `T` from a JSON
/// object only. serde's derived structs also accept an array of the field
/// values (`["DAILY", true]`), which no client of this API means: such a
/// body is a 400 like any other body of the wrong shape.
pub(crate) type JsonObject<T> = web::Json<Object<T>>;

pub(crate) struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

/// Collects field errors while parsing a request body into domain values.
#[derive(Default)]
pub(crate) struct Fields(Vec<FieldError>);

impl Fields {
    /// Parses a required field, recording why it is missing or invalid.
    pub fn parse<T, U>(
        &mut self,
        field: &str,
        value: Option<T>,
        parser: impl FnOnce(T) -> Result<U, ParseError>,
    ) -> Option<U> {
        let Some(value) = value else {
            self.0
                .push(FieldError::new(field, format!("{field} is required")));
            return None;
        };
        parser(value)
            .map_err(|e| self.0.push(FieldError::new(field, e.0)))
            .ok()
    }

    /// Parses a field that may be left out.
    pub fn optional<T, U>(
        &mut self,
        field: &str,
        value: Option<T>,
        parser: impl FnOnce(T) -> Result<U, ParseError>,
    ) -> Option<U> {
        value.and_then(|v| {
            parser(v)
                .map_err(|e| self.0.push(FieldError::new(field, e.0)))
                .ok()
        })
    }

    /// The parsed values when every field was valid, else every field error.
    pub fn finish<T>(self, values: Option<T>) -> Result<T, ApiError> {
        match values {
            Some(values) if self.0.is_empty() => Ok(values),
            _ => Err(ApiError::Validation(self.0)),
        }
    }
}

/// A password as typed at login or to confirm an action: required and not
/// empty; bcrypt decides the rest, so no other rule applies (registration's
/// rules are `domain::Password`'s).
pub(crate) fn entered_password(p: String) -> Result<String, ParseError> {
    if p.is_empty() {
        Err(ParseError::new("Password is required"))
    } else {
        Ok(p)
    }
}

/// For endpoints that need no body (refresh, logout, ...): an empty body
/// with or without a Content-Type is fine, and so is any JSON body; a
/// non-empty body of another type is 415, malformed JSON 400.
pub(crate) struct NoBody;

impl FromRequest for NoBody {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = bytes
                .await
                .map_err(|e| match e.as_response_error().status_code() {
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                    _ => ApiError::BadRequest("Request body could not be read".into()),
                })?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(NoBody);
            }
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            serde_json::from_slice::<serde::de::IgnoredAny>(&body)
                .map_err(|_| ApiError::BadRequest("Request body is not valid JSON".into()))?;
            Ok(NoBody)
        })
    }
}
