//! Transactions, and savepoints for transactions inside transactions.

use std::ops::{Deref, DerefMut};

use crate::client::Client;
use crate::error::{Error, ErrorKind};

/// An open transaction. It dereferences to the [`Client`], so statements run inside it.
///
/// Dropping it without [`commit`](Self::commit) rolls it back. Starting a transaction on a
/// `Transaction` makes a savepoint. If the connection is lost inside the transaction, the
/// server has rolled it back: further calls fail with [`ErrorKind::Closed`] (they do not
/// reconnect behind the transaction's back), and `commit` says so.
///
/// ```no_run
/// # fn demo(client: &mut oc_postgres::Client) -> Result<(), oc_postgres::Error> {
/// let mut tx = client.transaction()?;
/// tx.batch_execute("UPDATE account SET balance = balance - 10 WHERE id = 1")?;
/// tx.batch_execute("UPDATE account SET balance = balance + 10 WHERE id = 2")?;
/// tx.commit()?;
/// # Ok(()) }
/// ```
pub struct Transaction<'a> {
    client: &'a mut Client,
    /// Transactions open around this one (0: this is the outer transaction).
    depth: u32,
    done: bool,
}

impl<'a> Transaction<'a> {
    pub(crate) fn begin(client: &'a mut Client) -> Result<Transaction<'a>, Error> {
        let depth = client.tx_depth;
        if depth == 0 {
            client.tx_lost = false;
            client.batch_execute("BEGIN")?;
        } else {
            client.batch_execute(&format!("SAVEPOINT oc_sp{depth}"))?;
        }
        client.tx_depth = depth + 1;
        Ok(Transaction { client, depth, done: false })
    }

    /// Commits the transaction (or releases the savepoint).
    ///
    /// If a statement inside failed, the server has already aborted the transaction: it is
    /// rolled back and this returns an error of kind [`ErrorKind::Db`].
    pub fn commit(mut self) -> Result<(), Error> {
        self.done = true;
        let res = self.finish(true);
        self.close();
        res
    }

    /// Rolls the transaction back (or back to the savepoint).
    pub fn rollback(mut self) -> Result<(), Error> {
        self.done = true;
        let res = self.finish(false);
        self.close();
        res
    }

    fn finish(&mut self, commit: bool) -> Result<(), Error> {
        if self.client.tx_lost {
            return Err(Error::new(
                ErrorKind::Closed,
                "the connection was lost inside the transaction; the server rolled it back",
            ));
        }
        let failed = self.client.transaction_failed();
        let sql = match (self.depth, commit && !failed) {
            (0, true) => "COMMIT".to_owned(),
            (0, false) => "ROLLBACK".to_owned(),
            (d, true) => format!("RELEASE SAVEPOINT oc_sp{d}"),
            (d, false) => format!("ROLLBACK TO SAVEPOINT oc_sp{d}; RELEASE SAVEPOINT oc_sp{d}"),
        };
        self.client.batch_execute(&sql)?;
        if commit && failed {
            return Err(Error::new(
                ErrorKind::Db,
                "cannot commit: a statement in the transaction failed, so it was rolled back",
            ));
        }
        Ok(())
    }

    fn close(&mut self) {
        self.client.tx_depth = self.depth;
        if self.depth == 0 {
            self.client.tx_lost = false;
        }
    }
}

impl Deref for Transaction<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
    }
}

impl DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // While unwinding (a panic, or a cancelled coroutine) no IO: closing the session
        // makes the server roll back.
        let rolled_back = !std::thread::panicking() && self.finish(false).is_ok();
        if !rolled_back && (self.depth == 0 || !self.client.tx_lost) {
            self.client.disconnect();
        }
        self.close();
    }
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("depth", &self.depth).finish_non_exhaustive()
    }
}
