//! Test fixtures for the domain types, behind the `fixtures` feature (and in this crate's own
//! tests): an [`ExecutionBuilder`] that every test needing an [`Execution`] value starts from,
//! so no test spells the row's fields out by hand. It starts from the one real constructor,
//! [`Execution::claimed_for`], and reaches later states through the one transition table
//! ([`ExecutionBuilder::then`]); only [`ExecutionBuilder::state`] sets a state directly, for
//! tests of code that reads a state rather than moves one.

// A fixture that cannot be built is the test's failure, so it may panic.
#![allow(clippy::expect_used)]

use chrono::Duration;

use crate::{
    execution::{Execution, ExecutionEvent, ExecutionState},
    ids::{ClientOrderId, ProposalId, UserId},
    market::{Market, OrderSize, OrderType, Side},
    money::Notional,
    proposal::{Proposal, ProposalDraft, ProposalSource},
    Timestamp,
};

/// Builds an [`Execution`] for a test: by default a `CLAIMED` market buy of 10 EUR of BTC-EUR
/// for a new user and proposal, claimed at the given time.
#[derive(Debug, Clone)]
#[must_use]
pub struct ExecutionBuilder {
    execution: Execution,
}

impl ExecutionBuilder {
    /// The default `CLAIMED` execution, claimed at `at`.
    ///
    /// # Panics
    /// Never: the default draft is valid.
    pub fn new(at: Timestamp) -> ExecutionBuilder {
        let draft = ProposalDraft {
            user_id: UserId::new(),
            market: Market::parse("BTC-EUR").expect("BTC-EUR is a market"),
            side: Side::Buy,
            order_type: OrderType::Market,
            size: OrderSize::Quote(Notional::from_whole(10)),
            limit_price: None,
            source: ProposalSource::Person("test".to_owned()),
            rationale: "test fixture".to_owned(),
            ttl: Duration::minutes(10),
        };
        let proposal = Proposal::new(draft, at).expect("the default draft is valid");
        ExecutionBuilder::for_proposal(&proposal, at)
    }

    /// The `CLAIMED` execution the executor would build for `proposal` at `at`.
    pub fn for_proposal(proposal: &Proposal, at: Timestamp) -> ExecutionBuilder {
        ExecutionBuilder {
            execution: Execution::claimed_for(proposal, at),
        }
    }

    /// Whose execution it is.
    pub fn user(mut self, user_id: UserId) -> ExecutionBuilder {
        self.execution.user_id = user_id;
        self
    }

    /// The proposal it executes.
    pub fn proposal(mut self, proposal_id: ProposalId) -> ExecutionBuilder {
        self.execution.proposal_id = proposal_id;
        self
    }

    /// The `clientOrderId` it sends.
    pub fn client_order_id(mut self, client_order_id: ClientOrderId) -> ExecutionBuilder {
        self.execution.client_order_id = client_order_id;
        self
    }

    /// The market.
    pub fn market(mut self, market: Market) -> ExecutionBuilder {
        self.execution.market = market;
        self
    }

    /// Buy or sell.
    pub fn side(mut self, side: Side) -> ExecutionBuilder {
        self.execution.side = side;
        self
    }

    /// How much.
    pub fn size(mut self, size: OrderSize) -> ExecutionBuilder {
        self.execution.size = size;
        self
    }

    /// Moves it by `event` at `at` through the transition table.
    ///
    /// # Panics
    /// When the table refuses the move: the test asked for a history that cannot happen.
    pub fn then(mut self, event: &ExecutionEvent, at: Timestamp) -> ExecutionBuilder {
        self.execution = self
            .execution
            .apply(event, at)
            .unwrap_or_else(|illegal| panic!("a fixture asked for {illegal}"));
        self
    }

    /// Sets the state without a transition, for tests of code that only reads the state.
    pub fn state(mut self, state: ExecutionState) -> ExecutionBuilder {
        self.execution.state = state;
        self
    }

    /// The execution.
    #[must_use]
    pub fn build(self) -> Execution {
        self.execution
    }
}
