//! Property test: after any sequence of sends, reads, joins and leaves by several users,
//! every unread count the API reports equals a recount from scratch.

use std::collections::HashMap;

use natter_client::ConversationFilter;
use natter_proto::{AddParticipants, MarkRead, MessageSeq};
use natter_testkit::TestServer;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::helpers::group;

const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];

#[derive(Debug, Clone)]
enum Action {
    Send {
        user: usize,
    },
    ReadAll {
        user: usize,
    },
    ReadUpTo {
        user: usize,
        back: u64,
    },
    Leave {
        user: usize,
    },
    Join {
        user: usize,
    },
    /// The user deletes their newest message for everyone.
    Delete {
        user: usize,
    },
    /// The user hides the newest message they did not send.
    Hide {
        user: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..USERS.len()).prop_map(|user| Action::Send { user }),
        2 => (0..USERS.len()).prop_map(|user| Action::ReadAll { user }),
        2 => (0..USERS.len(), 0..4u64).prop_map(|(user, back)| Action::ReadUpTo { user, back }),
        1 => (1..USERS.len()).prop_map(|user| Action::Leave { user }),
        1 => (1..USERS.len()).prop_map(|user| Action::Join { user }),
        1 => (0..USERS.len()).prop_map(|user| Action::Delete { user }),
        1 => (0..USERS.len()).prop_map(|user| Action::Hide { user }),
    ]
}

/// The model: who sent each seq, which are deleted, who hid what, who is in, and each
/// member's read marker.
#[derive(Default)]
struct Model {
    senders: Vec<usize>,
    ids: Vec<natter_proto::MessageId>,
    deleted: Vec<bool>,
    hidden: std::collections::HashSet<(usize, usize)>,
    members: HashMap<usize, u64>,
}

impl Model {
    fn unread(&self, user: usize) -> u64 {
        let marker = self.members[&user];
        self.senders
            .iter()
            .enumerate()
            .filter(|(i, sender)| {
                (*i as u64 + 1) > marker
                    && **sender != user
                    && !self.deleted[*i]
                    && !self.hidden.contains(&(user, *i))
            })
            .count() as u64
    }
}

async fn check(actions: Vec<Action>) -> Result<(), TestCaseError> {
    let server = TestServer::spawn().await;
    let users: Vec<_> = USERS.iter().map(|id| server.user(id)).collect();
    let others: Vec<_> = users[1..].iter().collect();
    let g = group(&users[0], "prop", &others).await;
    let mut model = Model::default();
    for user in 0..USERS.len() {
        model.members.insert(user, 0);
    }
    for action in actions {
        match action {
            Action::Send { user } if model.members.contains_key(&user) => {
                let message = users[user]
                    .send_text(g.id, "x")
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.senders.push(user);
                model.ids.push(message.id);
                model.deleted.push(false);
                prop_assert_eq!(message.seq, MessageSeq(model.senders.len() as u64));
                model.members.insert(user, model.senders.len() as u64);
            }
            Action::ReadAll { user } if model.members.contains_key(&user) => {
                let before = model.unread(user);
                let result = users[user]
                    .mark_read(g.id, &MarkRead::default())
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.members.insert(user, model.senders.len() as u64);
                prop_assert_eq!(result.marked_count, before);
                prop_assert_eq!(result.unread_count, 0);
            }
            Action::ReadUpTo { user, back } if model.members.contains_key(&user) => {
                let target = (model.senders.len() as u64).saturating_sub(back);
                if target == 0 || model.hidden.contains(&(user, target as usize - 1)) {
                    continue; // a message hidden for this user is not listed to them
                }
                let page = users[user]
                    .list_messages(
                        g.id,
                        &natter_client::MessageFilter::default()
                            .after_seq(MessageSeq(target - 1))
                            .limit(1),
                    )
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let message = &page.items[0];
                prop_assert_eq!(message.seq, MessageSeq(target));
                users[user]
                    .mark_read(
                        g.id,
                        &MarkRead {
                            up_to_message_id: Some(message.id),
                        },
                    )
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let marker = model.members[&user].max(target);
                model.members.insert(user, marker);
            }
            Action::Leave { user } if model.members.contains_key(&user) => {
                users[user]
                    .leave(g.id)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.members.remove(&user);
            }
            Action::Delete { user } if model.members.contains_key(&user) => {
                let Some(index) = (0..model.senders.len())
                    .rev()
                    .find(|&i| model.senders[i] == user && !model.deleted[i])
                else {
                    continue;
                };
                users[user]
                    .delete_message(model.ids[index], true)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.deleted[index] = true;
            }
            Action::Hide { user } if model.members.contains_key(&user) => {
                let Some(index) = (0..model.senders.len())
                    .rev()
                    .find(|&i| model.senders[i] != user && !model.deleted[i])
                else {
                    continue;
                };
                users[user]
                    .delete_message(model.ids[index], false)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.hidden.insert((user, index));
            }
            Action::Join { user } if !model.members.contains_key(&user) => {
                users[0]
                    .add_participants(
                        g.id,
                        &AddParticipants {
                            user_ids: vec![users[user].id.clone()],
                            role: None,
                        },
                    )
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.members.insert(user, model.senders.len() as u64);
            }
            _ => {}
        }
        for (&user, _) in model.members.iter() {
            let listed = users[user]
                .list_conversations(&ConversationFilter::default())
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let in_list = listed
                .items
                .iter()
                .find(|c| c.id == g.id)
                .map(|c| c.unread_count);
            prop_assert_eq!(
                in_list,
                Some(model.unread(user)),
                "list unread of {}",
                USERS[user]
            );
            let single = users[user]
                .conversation(g.id)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(single.unread_count, model.unread(user));
            let summary = users[user]
                .unread()
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(summary.total, model.unread(user));
        }
    }
    Ok(())
}

#[test]
fn unread_counts_always_equal_a_recount() {
    let cases = std::env::var("NATTER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runner
        .run(&proptest::collection::vec(action(), 1..40), |actions| {
            runtime.block_on(check(actions))
        })
        .expect("unread counts match the model");
}
