//! Graph API errors as the simulator answers them: one constructor per situation, so the codes
//! live in one place and read like the table in DESIGN.md.

use serde_json::{json, Value};

/// One Graph API error, before it is wrapped in the `{"error":{..}}` envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub http_status: u16,
    pub message: String,
    pub kind: &'static str,
    pub code: i64,
    pub subcode: Option<i64>,
    pub is_transient: bool,
    pub user_title: Option<&'static str>,
    pub user_msg: Option<String>,
}

impl GraphError {
    fn new(http_status: u16, kind: &'static str, code: i64, message: impl Into<String>) -> Self {
        GraphError {
            http_status,
            message: message.into(),
            kind,
            code,
            subcode: None,
            is_transient: false,
            user_title: None,
            user_msg: None,
        }
    }

    fn subcode(mut self, subcode: i64) -> Self {
        self.subcode = Some(subcode);
        self
    }

    fn transient(mut self) -> Self {
        self.is_transient = true;
        self
    }

    fn user(mut self, title: &'static str, msg: impl Into<String>) -> Self {
        self.user_title = Some(title);
        self.user_msg = Some(msg.into());
        self
    }

    pub fn invalid_token() -> Self {
        Self::new(
            400,
            "OAuthException",
            190,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// Subcode 460 is what Instagram answers once a session was invalidated; a client that
    /// tells it apart from a typo can say "log in again" instead of "check the config".
    pub fn revoked_token() -> Self {
        Self::new(
            400,
            "OAuthException",
            190,
            "Error validating access token: The session has been invalidated because the user \
             changed their password or Facebook has changed the session for security reasons.",
        )
        .subcode(460)
    }

    /// A long-lived token past its 60 days (subcode 463: "session has expired").
    pub fn expired_token() -> Self {
        Self::new(
            400,
            "OAuthException",
            190,
            "Error validating access token: Session has expired.",
        )
        .subcode(463)
    }

    pub fn token_too_young() -> Self {
        Self::new(
            400,
            "OAuthException",
            100,
            "(#100) The access token must be at least 24 hours old to be refreshed",
        )
    }

    pub fn bad_metric(name: &str) -> Self {
        Self::new(
            400,
            "OAuthException",
            100,
            format!("(#100) metric[0] must be one of the following values: reach, views, likes, comments, saved; not {name}"),
        )
    }

    pub fn bad_app_credentials() -> Self {
        Self::new(
            400,
            "OAuthException",
            101,
            "Error validating application. Invalid application ID or secret.",
        )
    }

    /// The real API accepts `?access_token=`; this simulator refuses it so that a client that
    /// would leak its token into URLs (and proxy logs) fails its tests.
    pub fn token_in_url() -> Self {
        Self::new(
            400,
            "OAuthException",
            100,
            "(#100) access_token in the URL is refused by this simulator: send it in the \
             `Authorization: Bearer <token>` header",
        )
    }

    pub fn unknown_object(id: &str) -> Self {
        Self::new(
            400,
            "GraphMethodException",
            100,
            format!(
                "Unsupported request. Object with ID '{id}' does not exist, cannot be loaded due \
                 to missing permissions, or does not support this operation."
            ),
        )
        .subcode(33)
    }

    pub fn unsupported(method: &str, path: &str) -> Self {
        Self::new(
            400,
            "GraphMethodException",
            100,
            format!("Unsupported {method} request to {path}"),
        )
    }

    pub fn missing_param(name: &str) -> Self {
        Self::new(
            400,
            "OAuthException",
            100,
            format!("(#100) The parameter {name} is required"),
        )
    }

    pub fn fetch_failed(uri: &str) -> Self {
        Self::new(
            400,
            "OAuthException",
            9004,
            "Only photo or video can be accepted as media type.",
        )
        .subcode(2207052)
        .user(
            "Media download has failed.",
            format!("The media could not be fetched from this uri: {uri}"),
        )
    }

    /// `(code, subcode)` comes from the shared compliance check, so the simulator and the
    /// encoder can never disagree about what Instagram accepts.
    pub fn bad_media(code: i64, subcode: i64, reason: &str) -> Self {
        Self::new(
            400,
            "OAuthException",
            code,
            "The image could not be processed.",
        )
        .subcode(subcode)
        .user("Unsupported image", reason.to_string())
    }

    pub fn caption_too_long(chars: usize) -> Self {
        Self::new(400, "OAuthException", 36004, "The caption is too long.")
            .subcode(2207010)
            .user(
                "Caption too long",
                format!("The caption has {chars} characters; the limit is 2200."),
            )
    }

    pub fn container_limit() -> Self {
        Self::new(
            400,
            "OAuthException",
            4,
            "(#4) Application request limit reached: an account can create at most 400 media \
             containers in 24 hours",
        )
        .transient()
    }

    pub fn container_not_found(id: &str) -> Self {
        Self::new(
            400,
            "OAuthException",
            24,
            format!("The media builder with creation id = {id} does not exist."),
        )
        .subcode(2207008)
        .transient()
    }

    /// Marked transient because the right reaction is "poll the status again".
    pub fn not_ready() -> Self {
        Self::new(400, "OAuthException", 9007, "Media ID is not available")
            .subcode(2207027)
            .transient()
            .user(
                "Media not ready for publishing",
                "The media is not ready for publishing, please wait for a moment",
            )
    }

    pub fn expired() -> Self {
        Self::new(
            400,
            "OAuthException",
            -2,
            "The media container has expired.",
        )
        .subcode(2207020)
        .user(
            "The media has expired",
            "The media you are trying to access has expired. Please try uploading again.",
        )
    }

    pub fn already_published(id: &str) -> Self {
        Self::new(
            400,
            "OAuthException",
            100,
            format!("(#100) The media container {id} has already been published"),
        )
    }

    pub fn quota_reached() -> Self {
        Self::new(
            400,
            "OAuthException",
            9,
            "Application request limit reached",
        )
        .subcode(2207042)
        .user(
            "Maximum number of posts reached",
            "You reached maximum number of posts that is allowed to be published by \
                 Content Publishing API.",
        )
    }

    pub fn server_error() -> Self {
        Self::new(
            500,
            "OAuthException",
            2,
            "An unexpected error has occurred. Please retry your request later.",
        )
        .transient()
    }

    pub fn unavailable() -> Self {
        Self::new(503, "OAuthException", 2, "Service temporarily unavailable").transient()
    }

    /// The `{"error":{..}}` envelope. `fbtrace_id` is passed in so this stays deterministic.
    /// A parameter the endpoint refuses (code 100, as the Graph API answers bad input).
    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(400, "OAuthException", 100, message)
    }

    /// 100/2207028: a carousel needs 2 to 10 children.
    pub fn carousel_item_count(n: usize) -> Self {
        Self::new(
            400,
            "OAuthException",
            100,
            format!("The carousel has {n} children; it must have 2 to 10."),
        )
        .subcode(2207028)
    }

    pub fn envelope(&self, fbtrace_id: &str) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "is_transient": self.is_transient,
            "fbtrace_id": fbtrace_id,
        });
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        if let Some(title) = self.user_title {
            error["error_user_title"] = json!(title);
        }
        if let Some(msg) = &self.user_msg {
            error["error_user_msg"] = json!(msg);
        }
        json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_the_real_shape() {
        let v = GraphError::not_ready().envelope("Aabc");
        let e = &v["error"];
        assert_eq!(e["code"], 9007);
        assert_eq!(e["error_subcode"], 2207027);
        assert_eq!(e["type"], "OAuthException");
        assert_eq!(e["message"], "Media ID is not available");
        assert_eq!(e["is_transient"], true);
        assert_eq!(e["fbtrace_id"], "Aabc");
        assert!(e["error_user_title"].is_string());
    }

    #[test]
    fn errors_without_a_subcode_omit_it() {
        let v = GraphError::invalid_token().envelope("x");
        assert!(v["error"].get("error_subcode").is_none());
        assert_eq!(v["error"]["code"], 190);
    }
}
