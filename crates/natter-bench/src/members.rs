//! `members`: what one request costs in a big group — the requests whose answer or work
//! could grow with the members, each timed on its own.
//!
//! Set-up: a group of `--members` users (the owner included), one message, and a 👍 from
//! every member on it. Then, for each kind of request in turn, `--rounds` requests one
//! after the other by a member in the middle of the list (sequential, so each latency is
//! the server's work plus one round trip, not a queue): `GET …/reactions` (the page view
//! of the reactions), `GET …/reactions/👍` (a page of who reacted), `GET …/participants`
//! (a page of members), `GET /v1/conversations/{id}` (which embeds the first members),
//! `GET /v1/messages/{id}` (delivery state from the read markers) and a send that
//! mentions one member (the mention checked against the membership). Run it at 10 and
//! at 1,000 or 5,000 members: the latencies should not grow with the group. Each answer
//! is checked (counts, page sizes), so a run that measures a wrong answer fails.

use std::time::Instant;

use anyhow::Context;
use natter_client::Client;
use natter_proto::SendMessage;
use serde::Serialize;

use crate::harness::{self, Latencies, LatencySummary, Target};

/// Flags of `natter-bench members`.
#[derive(Debug, Clone, clap::Args)]
pub struct MembersArgs {
    /// Members of the group, the owner included.
    #[arg(long, default_value_t = 1000)]
    members: usize,
    /// Requests of each kind.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
}

/// Results of one run, printed as one JSON line.
#[derive(Debug, Serialize)]
pub struct MembersReport {
    scenario: &'static str,
    store: &'static str,
    members: usize,
    rounds: usize,
    /// Seconds to create the group and add every reaction.
    setup_s: f64,
    /// Users a `GET …/reactions` lists for 👍 (the count is `members`).
    reactions_listed: usize,
    /// Members a single conversation's answer embeds.
    participants_embedded: usize,
    get_reactions: LatencySummary,
    get_reactors_page: LatencySummary,
    get_participants_page: LatencySummary,
    get_conversation: LatencySummary,
    get_message: LatencySummary,
    send_with_mention: LatencySummary,
}

impl MembersReport {
    /// A few lines for a human, for stderr.
    pub fn human(&self) -> String {
        format!(
            "members: a group of {} ({}; set up in {:.1} s), {} requests of each kind\n  \
             GET reactions ({} users listed): {}\n  GET reactions/👍 page: {}\n  \
             GET participants page: {}\n  GET conversation ({} members embedded): {}\n  \
             GET message: {}\n  send with a mention: {}",
            self.members,
            self.store,
            self.setup_s,
            self.rounds,
            self.reactions_listed,
            self.get_reactions,
            self.get_reactors_page,
            self.get_participants_page,
            self.participants_embedded,
            self.get_conversation,
            self.get_message,
            self.send_with_mention,
        )
    }
}

/// Times `rounds` calls of `request`, one after the other.
async fn timed<F, Fut>(rounds: usize, mut request: F) -> anyhow::Result<LatencySummary>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut latencies = Latencies::default();
    for round in 0..rounds {
        let started = Instant::now();
        request(round).await?;
        latencies.record(started.elapsed());
    }
    Ok(latencies.summary())
}

/// Runs the scenario.
pub async fn run(target: &Target, args: &MembersArgs) -> anyhow::Result<MembersReport> {
    anyhow::ensure!(args.members >= 2, "--members must be at least 2");
    let started = Instant::now();
    let users = target.users("member", args.members)?;
    let (owner, others) = users.split_first().context("at least one member")?;
    let other_ids: Vec<_> = others.iter().map(|user| user.id.clone()).collect();
    let conversation_id = harness::create_group(owner, "members", &other_ids).await?;
    let message = owner
        .client
        .send_text(conversation_id, "react to this")
        .await
        .context("posting the message")?;
    for user in &users {
        user.client
            .add_reaction(message.id, "👍")
            .await
            .with_context(|| format!("{} reacting", user.id))?;
    }
    let setup_s = started.elapsed().as_secs_f64();

    let reader: &Client = &users[args.members / 2].client;
    let mentioned = users[args.members - 1].id.clone();
    let members = args.members as u64;

    let reactions = reader.reactions(message.id).await?;
    let thumbs = reactions.reactions.first().context("no reactions")?;
    anyhow::ensure!(
        thumbs.count == members && thumbs.me,
        "GET reactions counted {} (me: {}), expected {members}",
        thumbs.count,
        thumbs.me
    );
    let reactions_listed = thumbs.users.len();
    let conversation = reader.conversation(conversation_id).await?;
    anyhow::ensure!(
        conversation.participant_count == members,
        "the conversation counts {} members, expected {members}",
        conversation.participant_count
    );
    let participants_embedded = conversation.participants.map_or(0, |p| p.len());

    let get_reactions = timed(args.rounds, |_| async {
        reader.reactions(message.id).await?;
        Ok(())
    })
    .await?;
    let page = args.members.min(50);
    let get_reactors_page = timed(args.rounds, |_| async move {
        let listed = reader.reactors(message.id, "👍", None, None).await?;
        anyhow::ensure!(
            listed.items.len() == page,
            "a reactors page of {}",
            listed.items.len()
        );
        Ok(())
    })
    .await?;
    let get_participants_page = timed(args.rounds, |_| async move {
        let listed = reader.participants(conversation_id).await?;
        anyhow::ensure!(
            listed.items.len() == page,
            "a members page of {}",
            listed.items.len()
        );
        Ok(())
    })
    .await?;
    let get_conversation = timed(args.rounds, |_| async {
        reader.conversation(conversation_id).await?;
        Ok(())
    })
    .await?;
    let get_message = timed(args.rounds, |_| async {
        reader.message(message.id).await?;
        Ok(())
    })
    .await?;
    let send_with_mention = timed(args.rounds, |round| {
        let mentioned = mentioned.clone();
        async move {
            let body = SendMessage {
                mentions: vec![mentioned.clone()],
                content: Some(format!("@{mentioned} {round}")),
                ..SendMessage::default()
            };
            reader.send_message(conversation_id, &body).await?;
            Ok(())
        }
    })
    .await?;

    Ok(MembersReport {
        scenario: "members",
        store: target.store(),
        members: args.members,
        rounds: args.rounds,
        setup_s,
        reactions_listed,
        participants_embedded,
        get_reactions,
        get_reactors_page,
        get_participants_page,
        get_conversation,
        get_message,
        send_with_mention,
    })
}
