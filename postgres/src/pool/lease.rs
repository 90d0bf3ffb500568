//! What a checkout holds: a lease on a shard's room while the client is being made or
//! checked, then the `PooledClient` the caller uses.

use std::ops::{Deref, DerefMut};

use super::checkout::Pool;
use crate::client::Client;

/// One unit of a shard's room during a checkout: a client being checked, or the right to
/// make one. Unless turned into a [`PooledClient`], it goes back on drop (also when the
/// caller unwinds), so the pool never loses room.
pub(super) struct Lease<'a> {
    pub(super) pool: &'a Pool,
    pub(super) index: usize,
    pub(super) client: Option<Client>,
    pub(super) armed: bool,
}

impl Lease<'_> {
    pub(super) fn into_pooled(mut self, client: Client) -> PooledClient {
        self.armed = false;
        self.pool.pooled(self.index, client)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match self.client.take() {
            Some(client) => self.pool.give_back(self.index, client),
            None => self.pool.release_room(self.index),
        }
    }
}

/// A client checked out of a [`Pool`]; it goes back when dropped.
pub struct PooledClient {
    pub(super) client: Option<Client>,
    pub(super) pool: Pool,
    pub(super) shard: usize,
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a pooled client is present until dropped")
    }
}

impl DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("a pooled client is present until dropped")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            self.pool.give_back(self.shard, client);
        }
    }
}

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient").field("client", &self.client).field("shard", &self.shard).finish()
    }
}
