//! What a failed call means for the job and the booth: the error classes of DESIGN.md, as one
//! pure function over what the Graph API answered.

/// A Graph API error envelope: `{"error":{"message","type","code","error_subcode","is_transient"}}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub is_transient: Option<bool>,
    #[serde(default)]
    pub error_user_msg: Option<String>,
}

/// What to do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Network trouble, 5xx, captive portals, Graph's own transient codes: retry this job with
    /// backoff, forever.
    Transient,
    /// The token is expired or lacks permission: pause all publishing, keep capturing.
    Auth,
    /// The account is restricted or flagged: pause all publishing; a person must look.
    Account,
    /// Rate limit or publishing quota: stop calling until the window reopens.
    RateLimit,
    /// `media_publish` before the container is FINISHED (9007/2207027): poll again.
    NotReady,
    /// The container expired (-2/2207020): make a new one.
    ContainerExpired,
    /// The container id is unknown (24/2207008): retry briefly, then make a new one.
    ContainerNotFound,
    /// Instagram could not fetch or read the staged media (9004, 36003): re-stage a few times.
    MediaUnfetchable,
    /// The input itself is invalid (too big, wrong format, caption too long): fail the job.
    Invalid,
}

impl ErrorClass {
    /// The class's name in metrics and events (`postbooth_publish_errors_total{class=…}`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Auth => "auth",
            Self::Account => "account",
            Self::RateLimit => "rate_limit",
            Self::NotReady => "not_ready",
            Self::ContainerExpired => "container_expired",
            Self::ContainerNotFound => "container_not_found",
            Self::MediaUnfetchable => "media_unfetchable",
            Self::Invalid => "invalid",
        }
    }
}

/// Classifies a Graph API error envelope. Codes from DESIGN.md's error table.
pub fn classify(http_status: u16, e: &GraphError) -> ErrorClass {
    use ErrorClass::*;
    match (e.code, e.error_subcode) {
        (190, _) | (10, _) | (200..=299, _) => return Auth,
        (4, Some(2207051)) | (25, Some(2207050)) => return Account,
        (9, Some(2207042)) | (4 | 17 | 32 | 613 | 80002, _) => return RateLimit,
        (9007, Some(2207027)) => return NotReady,
        (-2, Some(2207020)) => return ContainerExpired,
        (24, Some(2207008)) => return ContainerNotFound,
        (9004, _) | (36003, _) => return MediaUnfetchable,
        (36000 | 36001 | 36004, _) => return Invalid,
        (100, Some(2207028 | 2207040 | 2207010)) => return Invalid,
        (1 | 2 | -1 | -2, _) => return Transient,
        _ => {}
    }
    if http_status == 429 {
        return RateLimit;
    }
    match e.is_transient {
        Some(true) => Transient,
        // Instagram says retrying will not help; 100 is "invalid parameter".
        Some(false) if e.code == 100 => Invalid,
        _ if http_status >= 500 => Transient,
        _ if e.code == 100 => Invalid,
        // Unknown codes are retried with backoff: a booth that keeps trying costs nothing,
        // one that gives up loses a photo until someone notices.
        _ => Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    fn e(code: i64, subcode: Option<i64>, is_transient: Option<bool>) -> GraphError {
        GraphError {
            message: "m".into(),
            kind: "OAuthException".into(),
            code,
            error_subcode: subcode,
            is_transient,
            error_user_msg: None,
        }
    }

    #[test]
    fn design_table() {
        let cases = [
            (400, 190, Some(463), Auth),
            (400, 190, None, Auth),
            (403, 10, None, Auth),
            (403, 200, None, Auth),
            (400, 4, Some(2207051), Account),
            (400, 25, Some(2207050), Account),
            (400, 9, Some(2207042), RateLimit),
            (400, 4, None, RateLimit),
            (400, 17, None, RateLimit),
            (400, 32, None, RateLimit),
            (400, 613, None, RateLimit),
            (400, 80002, None, RateLimit),
            (400, 9007, Some(2207027), NotReady),
            (400, -2, Some(2207020), ContainerExpired),
            (400, 24, Some(2207008), ContainerNotFound),
            (400, 9004, Some(2207052), MediaUnfetchable),
            (400, 36003, Some(2207009), MediaUnfetchable),
            (400, 36000, Some(2207004), Invalid),
            (400, 36001, Some(2207005), Invalid),
            (400, 36004, Some(2207010), Invalid),
            (400, 100, Some(2207028), Invalid),
            (400, 100, Some(2207040), Invalid),
            (500, 1, None, Transient),
            (500, 2, None, Transient),
            (400, -1, Some(2207001), Transient),
            (400, -1, Some(2207032), Transient),
            (400, -2, Some(2207003), Transient),
        ];
        for (status, code, sub, want) in cases {
            assert_eq!(
                classify(status, &e(code, sub, None)),
                want,
                "{code}/{sub:?}"
            );
        }
    }

    #[test]
    fn is_transient_is_trusted_for_unknown_codes() {
        assert_eq!(classify(400, &e(12345, None, Some(true))), Transient);
        assert_eq!(classify(400, &e(100, None, Some(false))), Invalid);
    }

    #[test]
    fn http_status_decides_when_the_code_does_not() {
        assert_eq!(classify(429, &e(12345, None, None)), RateLimit);
        assert_eq!(classify(503, &e(12345, None, None)), Transient);
        assert_eq!(classify(400, &e(12345, None, None)), Transient);
    }
}
