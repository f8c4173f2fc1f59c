//! What happens on the server to a message once it is stored: moved to the
//! processed folder, flagged, or nothing; and what loket does when the server
//! cannot or will not do it.

use async_imap::types::{Flag, Mailbox};
use futures::TryStreamExt;

use super::{ImapSession, fetch::drain_unsolicited, timed, uidset};
use crate::config::MailboxConfig;
use crate::pipeline::Pipeline;
use crate::pipeline::plan::Incoming;
use crate::source::SourceError;
use crate::source::memory::{AFTER_COMMIT_TRIES, Memory, report, resolved};
use crate::telemetry::health::Problem;

/// The step after the commit, as this server and this folder allow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AfterCommit {
    /// Nothing is done on the server: the ingest transaction advances the cursor.
    Nothing,
    /// `UID MOVE` (RFC 6851).
    Move(String),
    /// Without MOVE but with UIDPLUS: `UID COPY`, `\Deleted`, `UID EXPUNGE` of just those UIDs.
    CopyExpunge(String),
    /// Neither MOVE nor UIDPLUS: plain EXPUNGE would also remove mail others
    /// marked deleted, so the message is copied and marked `\Deleted`, and left
    /// for the next expunge. The cursor advances in the ingest transaction,
    /// before the copy, so no message is ever copied twice; a crash between the
    /// commit and the copy leaves that message in the folder, uncopied.
    CopyOnce(String),
    /// Set a flag or keyword; the search skips messages that carry a keyword.
    Flag(String),
}

impl AfterCommit {
    /// Chooses the step for this connection from the configuration and the
    /// server's capabilities. A processed folder that cannot be created or
    /// opened is reported, and mail is then left where it is.
    pub(super) async fn prepare(
        pipeline: &Pipeline,
        mailbox: &MailboxConfig,
        session: &mut ImapSession,
        can_move: bool,
        has_uidplus: bool,
    ) -> Result<Self, SourceError> {
        if let Some(flag) = &mailbox.processed_flag {
            return Ok(Self::Flag(flag.clone()));
        }
        let Some(folder) = &mailbox.processed_folder else { return Ok(Self::Nothing) };
        // CREATE fails harmlessly when the folder exists; STATUS says whether it does.
        let created = timed(mailbox, "CREATE", session.create(folder)).await;
        match timed(mailbox, "STATUS", session.status(folder, "(MESSAGES)")).await {
            Ok(_) => resolved(pipeline, mailbox, Problem::ProcessedFolder),
            Err(SourceError::Imap(status)) => {
                let why = match created {
                    Err(SourceError::Imap(create)) => create.to_string(),
                    _ => status.to_string(),
                };
                let text = format!(
                    "the processed folder {folder:?} cannot be created or opened ({why}); \
                     stored mail stays in {}",
                    mailbox.folder
                );
                report(pipeline, mailbox, Problem::ProcessedFolder, &text);
                return Ok(Self::Nothing);
            }
            Err(other) => return Err(other),
        }
        Ok(if can_move {
            Self::Move(folder.clone())
        } else if has_uidplus {
            Self::CopyExpunge(folder.clone())
        } else {
            tracing::info!(mailbox = %mailbox.name, "the server offers neither MOVE nor UIDPLUS: stored mail is copied once and marked deleted");
            Self::CopyOnce(folder.clone())
        })
    }

    /// The step for the folder just selected: a flag the folder does not keep
    /// permanently is reported, and then nothing is done.
    pub(super) fn for_selected(&self, pipeline: &Pipeline, mailbox: &MailboxConfig, selected: &Mailbox) -> Self {
        let Self::Flag(flag) = self else { return self.clone() };
        let wanted = Flag::from(flag.as_str());
        let kept = selected.permanent_flags.is_empty()
            || selected.permanent_flags.iter().any(|f| *f == wanted || (*f == Flag::MayCreate && is_keyword(flag)));
        if kept {
            resolved(pipeline, mailbox, Problem::AfterCommit);
            return self.clone();
        }
        let text = format!(
            "the server does not keep the flag {flag} in {} (PERMANENTFLAGS); stored mail is left unflagged",
            mailbox.folder
        );
        report(pipeline, mailbox, Problem::AfterCommit, &text);
        Self::Nothing
    }

    /// Whether the cursor waits for this step (true) or moves in the ingest transaction.
    pub(super) fn cursor_follows(&self) -> bool {
        matches!(self, Self::Move(_) | Self::CopyExpunge(_) | Self::Flag(_))
    }

    /// Whether mail taken in leaves the folder (moved, or copied and expunged),
    /// so that the folder holds only mail not yet taken in.
    pub(super) fn folder_holds(&self) -> crate::store::FolderHolds {
        match self {
            Self::Move(_) | Self::CopyExpunge(_) => crate::store::FolderHolds::OnlyUnprocessed,
            Self::Nothing | Self::CopyOnce(_) | Self::Flag(_) => crate::store::FolderHolds::ProcessedToo,
        }
    }

    /// The search key that leaves out messages already flagged, in flag mode:
    /// only for a keyword, which is loket's own. A system flag (`\Seen`,
    /// `\Flagged`, ...) may also be set by a person, on mail loket never took
    /// in: the cursor and the store's unique keys decide what is new instead.
    pub(super) fn search_filter(&self) -> Option<String> {
        let Self::Flag(flag) = self else { return None };
        is_keyword(flag).then(|| format!("UNKEYWORD {flag}"))
    }

    async fn run(
        &self,
        mailbox: &MailboxConfig,
        session: &mut ImapSession,
        uids: &[u32],
        heard: &mut bool,
    ) -> Result<(), SourceError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uidset::format(uids);
        let store = async |session: &mut ImapSession, query: &str| {
            timed(mailbox, "UID STORE", async {
                let stream = session.uid_store(&set, query).await?;
                stream.try_collect::<Vec<_>>().await
            })
            .await
        };
        match self {
            Self::Nothing => {}
            Self::Move(folder) => timed(mailbox, "UID MOVE", session.uid_mv(&set, folder)).await?,
            Self::CopyExpunge(folder) => {
                timed(mailbox, "UID COPY", session.uid_copy(&set, folder)).await?;
                store(session, "+FLAGS.SILENT (\\Deleted)").await?;
                timed(mailbox, "UID EXPUNGE", async {
                    let stream = session.uid_expunge(&set).await?;
                    stream.try_collect::<Vec<_>>().await
                })
                .await?;
            }
            Self::CopyOnce(folder) => {
                timed(mailbox, "UID COPY", session.uid_copy(&set, folder)).await?;
                store(session, "+FLAGS.SILENT (\\Deleted)").await?;
            }
            Self::Flag(flag) => {
                store(session, &format!("+FLAGS.SILENT ({flag})")).await?;
            }
        }
        *heard |= drain_unsolicited(session);
        Ok(())
    }
}

/// A keyword (not a system flag): `\*` in PERMANENTFLAGS allows creating it.
fn is_keyword(flag: &str) -> bool {
    !flag.starts_with('\\')
}

/// Moves or flags stored messages on the server in sets (one command per set is
/// far cheaper for the server than many small ones), then advances the cursor
/// past them. Until then the cursor stays put, so a crash means those messages
/// are fetched again, found stored, and moved after all.
pub(super) struct Acknowledger {
    pub uidvalidity: u32,
    pub action: AfterCommit,
    pub pending: Vec<u32>,
    pub last: Option<u32>,
    /// The lowest UID held back in this poll: the cursor stays below it.
    pub held_from: Option<u32>,
}

impl Acknowledger {
    pub fn stored(&mut self, group: &[Incoming]) {
        for incoming in group {
            let Some(position) = incoming.imap else { continue };
            if self.held_from.is_none_or(|held| position.uid < held) {
                self.last = Some(position.uid);
            }
            // An oversized message was stored with its header only: the whole
            // message stays where it is, for a person to deal with.
            if !incoming.truncated {
                self.pending.push(position.uid);
            }
        }
    }

    /// Runs the step for the pending messages. When it fails
    /// [`AFTER_COMMIT_TRIES`] times in a row (a copy-once: the first time), the
    /// cursor goes past them anyway and they stay where they are: new mail must
    /// keep becoming tickets.
    pub async fn flush(
        &mut self,
        pipeline: &Pipeline,
        mailbox: &MailboxConfig,
        session: &mut ImapSession,
        memory: &mut Memory,
    ) -> Result<(), SourceError> {
        let result = self.action.run(mailbox, session, &self.pending, &mut memory.announced).await;
        let keep_session = match result {
            Ok(()) => {
                if memory.after_commit_failures > 0 {
                    memory.after_commit_failures = 0;
                    resolved(pipeline, mailbox, Problem::AfterCommit);
                }
                Ok(())
            }
            Err(error) => {
                memory.after_commit_failures += 1;
                // A copy is never tried again: part of it may have happened.
                if memory.after_commit_failures < AFTER_COMMIT_TRIES && self.action.cursor_follows() {
                    return Err(error);
                }
                let text = format!(
                    "moving or flagging stored mail failed {} times ({error}); {} messages stay in {} \
                     and the mailbox goes on",
                    memory.after_commit_failures,
                    self.pending.len(),
                    mailbox.folder
                );
                report(pipeline, mailbox, Problem::AfterCommit, &text);
                memory.after_commit_failures = 0;
                // A refusal leaves the session usable; anything else is reconnected.
                match error {
                    SourceError::Imap(async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)) => Ok(()),
                    other => Err(other),
                }
            }
        };
        self.pending.clear();
        if let Some(last) = self.last.take() {
            pipeline.store.advance_cursor(mailbox.name.as_str(), self.uidvalidity, last, memory.lease).await?;
        }
        keep_session
    }
}
