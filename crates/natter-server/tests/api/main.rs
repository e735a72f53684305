//! The server integration suite: one test binary, the real server on a random port, the
//! real SDK. Runs on SQLite by default and on PostgreSQL with `NATTER_TEST_DB=postgres`.

mod admin;
mod attachments;
mod auth;
mod authz;
mod bad_input;
mod conversations;
mod events;
mod fallbacks;
mod health;
mod helpers;
mod invitations;
mod lifecycle;
mod messages;
mod nats;
mod nodes;
mod participants;
mod pii;
mod reads;
mod realtime;
mod search;
mod settings;
mod threads;
mod unread_property;
