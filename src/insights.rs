//! The operator's read-only (and moderation) commands: `postbooth insights` and
//! `postbooth comments list|reply|hide|delete`. They share Meta's rate limits with the
//! publisher, so they never run while the booth is being throttled, and they stop as soon as
//! the usage headers pass [`READ_BUDGET_PERCENT`]: reading numbers must never delay a post.

use crate::config::Config;
use crate::job::Job;
use crate::publish::graph::{ApiError, GraphClient, Token};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// Read-only calls stop once Meta reports this much of the budget used; the publisher only
/// starts slowing down at 75 %, so reading never pushes it there.
pub const READ_BUDGET_PERCENT: f64 = 50.0;
/// How many of the booth's posts `insights` looks at, newest first.
pub const RECENT_POSTS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Token(#[from] crate::publish::graph::TokenError),
    #[error("{}", crate::doctor::explain(.graph_url, .error))]
    Api { graph_url: String, error: ApiError },
    #[error("not now: {0}")]
    Busy(String),
}

/// A Graph client for the operator's commands, with the rate-limit guard.
pub struct Reader {
    graph: GraphClient,
    graph_url: String,
}

impl Reader {
    /// Refuses to start while the running booth is held by Meta's rate limits.
    pub async fn new(config: &Config) -> Result<Reader, ReadError> {
        let socket = crate::store::control_socket_path(&config.store.dir);
        if let Ok(Some(resp)) = crate::control::call(&socket, &crate::control::Request::List).await
        {
            if let Some(why) = resp
                .publishing
                .and_then(|p| p.waiting_because)
                .filter(|w| w.contains("slow down"))
            {
                return Err(ReadError::Busy(format!(
                    "the booth is holding its own calls ({why}); try again later so publishing is not delayed"
                )));
            }
        }
        let token = Token::load(&config.instagram.access_token_file)?;
        Ok(Reader {
            graph: GraphClient::new(
                &config.instagram.graph_url,
                config.user_id(),
                token,
                Duration::from_secs(config.instagram.request_timeout_secs),
            ),
            graph_url: config.instagram.graph_url.clone(),
        })
    }

    /// After each call: stop when the usage headers say the shared budget is getting used.
    fn budget_left(&self) -> Result<(), String> {
        let usage = self.graph.last_usage();
        if usage.regain_access_in.is_some() || usage.percent >= READ_BUDGET_PERCENT {
            return Err(format!(
                "Instagram reports {:.0} % of the call budget used; stopped here so publishing is not delayed",
                usage.percent
            ));
        }
        Ok(())
    }

    fn api(&self, error: ApiError) -> ReadError {
        ReadError::Api {
            graph_url: self.graph_url.clone(),
            error,
        }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ReadError> {
        self.graph
            .get_json(path, query)
            .await
            .map_err(|e| self.api(e))
    }
}

/// One metric value from an insights answer: `total_value.value` (account) or
/// `values[0].value` (media).
fn metric(answer: &Value, name: &str) -> Option<u64> {
    let entry = answer["data"]
        .as_array()?
        .iter()
        .find(|d| d["name"] == name)?;
    entry["total_value"]["value"]
        .as_u64()
        .or_else(|| entry["values"][0]["value"].as_u64())
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct AccountDay {
    pub reach: Option<u64>,
    pub views: Option<u64>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PostNumbers {
    pub media_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permalink: Option<String>,
    pub likes: Option<u64>,
    pub comments: Option<u64>,
    pub saved: Option<u64>,
    pub reach: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Insights {
    pub account_today: AccountDay,
    pub posts: Vec<PostNumbers>,
    /// Set when the rate-limit guard stopped before every post was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
}

/// The booth's published posts, newest first.
pub fn recent_posts(jobs: &[Job], n: usize) -> Vec<(String, Option<String>)> {
    let mut posted: Vec<&Job> = jobs
        .iter()
        .filter(|j| j.state.media_id().is_some())
        .collect();
    posted.sort_by_key(|j| std::cmp::Reverse(j.created_at_ms));
    posted
        .into_iter()
        .take(n)
        .map(|j| {
            (
                j.state.media_id().unwrap_or_default().to_string(),
                j.state.permalink().map(str::to_string),
            )
        })
        .collect()
}

/// Account reach and views for the day, then likes, comments, saves and reach for each of
/// `posts`, stopping early (and saying so) when the budget guard says so.
pub async fn insights(
    reader: &Reader,
    posts: Vec<(String, Option<String>)>,
) -> Result<Insights, ReadError> {
    let user = reader.graph.user_id().to_string();
    let answer = reader
        .get(
            &format!("{user}/insights"),
            &[
                ("metric", "reach,views"),
                ("period", "day"),
                ("metric_type", "total_value"),
            ],
        )
        .await?;
    let mut out = Insights {
        account_today: AccountDay {
            reach: metric(&answer, "reach"),
            views: metric(&answer, "views"),
        },
        posts: Vec::new(),
        stopped_early: None,
    };
    for (media_id, permalink) in posts {
        if let Err(why) = reader.budget_left() {
            out.stopped_early = Some(why);
            break;
        }
        let answer = reader
            .get(
                &format!("{media_id}/insights"),
                &[("metric", "likes,comments,saved,reach")],
            )
            .await?;
        // A booth where nothing shows permalinks does not read them when it posts (one Graph
        // call saved per photo); this person asked to see them.
        let permalink = match permalink {
            Some(link) => Some(link),
            None => reader
                .get(&media_id, &[("fields", "permalink")])
                .await?
                .get("permalink")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        };
        out.posts.push(PostNumbers {
            media_id,
            permalink,
            likes: metric(&answer, "likes"),
            comments: metric(&answer, "comments"),
            saved: metric(&answer, "saved"),
            reach: metric(&answer, "reach"),
        });
    }
    Ok(out)
}

/// `insights` as text for a person.
pub fn insights_text(i: &Insights) -> String {
    let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut s = format!(
        "Today: reach {}, views {}\n",
        n(i.account_today.reach),
        n(i.account_today.views)
    );
    if i.posts.is_empty() {
        s.push_str("No posts from this booth yet.\n");
    } else {
        s.push_str(&format!(
            "{:<20} {:>6} {:>8} {:>6} {:>6}  LINK\n",
            "MEDIA", "LIKES", "COMMENTS", "SAVES", "REACH"
        ));
        for p in &i.posts {
            s.push_str(&format!(
                "{:<20} {:>6} {:>8} {:>6} {:>6}  {}\n",
                p.media_id,
                n(p.likes),
                n(p.comments),
                n(p.saved),
                n(p.reach),
                p.permalink.as_deref().unwrap_or("")
            ));
        }
    }
    if let Some(why) = &i.stopped_early {
        s.push_str(&format!("(not all posts shown: {why})\n"));
    }
    s
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Comment {
    pub id: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub hidden: bool,
}

pub async fn list_comments(reader: &Reader, media_id: &str) -> Result<Vec<Comment>, ReadError> {
    let answer = reader
        .get(
            &format!("{media_id}/comments"),
            &[("fields", "id,username,text,timestamp,hidden")],
        )
        .await?;
    Ok(serde_json::from_value(answer["data"].clone()).unwrap_or_default())
}

/// `POST /{comment-id}/replies`: returns the reply's id.
pub async fn reply(reader: &Reader, comment_id: &str, text: &str) -> Result<String, ReadError> {
    let answer = reader
        .graph
        .post_form(&format!("{comment_id}/replies"), &[("message", text)])
        .await
        .map_err(|e| reader.api(e))?;
    Ok(answer["id"].as_str().unwrap_or_default().to_string())
}

/// `POST /{comment-id}?hide=true|false`.
pub async fn hide(reader: &Reader, comment_id: &str, hide: bool) -> Result<(), ReadError> {
    reader
        .graph
        .post_form(comment_id, &[("hide", if hide { "true" } else { "false" })])
        .await
        .map_err(|e| reader.api(e))?;
    Ok(())
}

/// `DELETE /{comment-id}`.
pub async fn delete(reader: &Reader, comment_id: &str) -> Result<(), ReadError> {
    reader
        .graph
        .delete(comment_id)
        .await
        .map_err(|e| reader.api(e))?;
    Ok(())
}

/// Likes on the account's posts published since local midnight, for the idle screen: one
/// call.
pub async fn likes_today(graph: &GraphClient) -> Result<u64, ApiError> {
    let answer = graph
        .get_json(
            &format!("{}/media", graph.user_id()),
            &[("fields", "like_count,timestamp"), ("limit", "50")],
        )
        .await?;
    let local = crate::clock::now();
    let since_midnight =
        u64::from(local.hour) * 3600 + u64::from(local.minute) * 60 + u64::from(local.second);
    let midnight = (crate::clock::system_ms() / 1000).saturating_sub(since_midnight);
    Ok(sum_likes_since(&answer, midnight))
}

/// Sum of `like_count` over posts whose `timestamp` is at or after `since` (unix seconds).
fn sum_likes_since(answer: &Value, since: u64) -> u64 {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
    );
    answer["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["timestamp"]
                .as_str()
                .and_then(|t| time::OffsetDateTime::parse(t, format).ok())
                .is_some_and(|t| t.unix_timestamp() >= since as i64)
        })
        .filter_map(|m| m["like_count"].as_u64())
        .sum()
}

/// The daemon's idle-screen line, "412 likes today": refreshed every `refresh_secs`, never
/// while Meta throttles the booth or its usage is past [`READ_BUDGET_PERCENT`].
pub async fn idle_likes(
    graph: std::sync::Arc<GraphClient>,
    gate: std::sync::Arc<crate::publish::gate::Gate>,
    status: crate::ui::StatusSender,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let busy = gate.throttled() || graph.last_usage().percent >= READ_BUDGET_PERCENT;
        if !busy {
            match likes_today(&graph).await {
                Ok(n) => {
                    let line = format!("{n} likes today");
                    // A login warning keeps the line.
                    status.send_modify(|s| {
                        if !s.notice.as_deref().is_some_and(|n| n.starts_with("Login")) {
                            s.notice = Some(line);
                        }
                    });
                }
                Err(e) => tracing::debug!(error = %e, "could not read today's likes"),
            }
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metrics_are_read_from_both_answer_shapes() {
        let account = json!({"data":[{"name":"reach","total_value":{"value":12}},{"name":"views","total_value":{"value":30}}]});
        assert_eq!(metric(&account, "reach"), Some(12));
        assert_eq!(metric(&account, "views"), Some(30));
        let media = json!({"data":[{"name":"likes","values":[{"value":7}]}]});
        assert_eq!(metric(&media, "likes"), Some(7));
        assert_eq!(metric(&media, "saved"), None);
    }

    #[test]
    fn likes_today_counts_posts_since_midnight_only() {
        let answer = json!({"data":[
            {"like_count": 400, "timestamp": "1970-01-02T00:00:00+0000"},
            {"like_count": 12, "timestamp": "1970-01-02T10:00:00+0000"},
            {"like_count": 99, "timestamp": "1970-01-01T23:59:59+0000"},
            {"timestamp": "1970-01-02T11:00:00+0000"}
        ]});
        assert_eq!(sum_likes_since(&answer, 86400), 412);
    }
}
