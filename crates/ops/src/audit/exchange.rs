//! The audit's exchange checks, by `clientOrderId`: what the exchange holds for the period
//! against what Vigil recorded, orders and fills both ways.
//!
//! The exchange lists orders and fills per market, newest first, in pages of at most 1000
//! (fills at most 24 hours per request). The markets read are those Vigil executed on, those
//! on any user's allowlist, and those with an open order; every list is paged backwards until
//! the period is covered, at most `exchange_pages_max` pages per market. A list that could not
//! be read, or not completely, becomes a finding: the audit fails rather than pass unseen. And a
//! list that was not read completely proves nothing by what it lacks: no comparison concludes a
//! mismatch from the absence of something in it (it is reported as unreadable or incomplete,
//! never as "unknown to the exchange"). Only positive evidence makes a mismatch, and a lookup
//! answer counts only when it is the order asked for (it carries the execution's
//! `clientOrderId`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::TimeDelta;
use serde_json::json;
use vigil_bitvavo::{
    BitvavoError, GetOrder, OpenOrdersQuery, Order, OrderHistoryQuery, OrderId, ReadOnlyClient,
    Trade, TradeHistoryQuery,
};
use vigil_core::{ClientOrderId, Execution, ExecutionState, Market, Timestamp};
use vigil_store::{Fill, Store, StoreError};

use super::{AuditFinding, Part};
use crate::recent::{self, RecentExecutions};

/// The largest page the exchange returns.
const PAGE: u16 = 1000;

/// What the exchange showed for the period.
#[derive(Debug, Default)]
pub(super) struct ExchangeView {
    /// Orders created in the period, by (market, order id).
    orders: BTreeMap<(Market, String), Order>,
    /// Fills in the period, by (market, fill id).
    trades: BTreeMap<(Market, String), Trade>,
    /// The markets whose fills of the whole period were read: only there does a fill's
    /// absence mean anything (#18 case 17).
    trades_complete: BTreeSet<Market>,
    /// Lists that could not be read, or not completely.
    problems: Vec<AuditFinding>,
}

fn unreachable(what: &str, error: &BitvavoError) -> AuditFinding {
    AuditFinding {
        check: "exchange",
        code: "exchange_unreachable",
        summary: format!("could not read {what} from the exchange: {error}"),
        evidence: json!({ "list": what, "error": error.to_string() }),
    }
}

fn incomplete(what: &str, pages: u32) -> AuditFinding {
    AuditFinding {
        check: "coverage",
        code: "incomplete",
        summary: format!(
            "{what} holds more than {pages} pages in the period; the rest was not compared \
             (audit a shorter period with --since)"
        ),
        evidence: json!({ "list": what, "pages_read": pages }),
    }
}

impl ExchangeView {
    pub(super) async fn read(
        client: &ReadOnlyClient,
        store: &Store,
        start: Timestamp,
        end: Timestamp,
        pages_max: u32,
    ) -> Result<ExchangeView, StoreError> {
        let mut view = ExchangeView::default();
        let mut markets: BTreeSet<Market> = BTreeSet::new();
        for user in recent::users(store).await? {
            markets.extend(store.allowlist_list(user.id).await?);
        }
        let executions = recent::executions_since(store, start - TimeDelta::hours(1)).await?;
        markets.extend(executions.iter().map(|e| e.market.clone()));
        match client.open_orders(&OpenOrdersQuery { market: None }).await {
            Ok(open) => markets.extend(open.into_iter().map(|o| o.key.market)),
            Err(e) => view.problems.push(unreachable("the open orders", &e)),
        }
        for market in markets {
            view.read_orders(client, &market, start, end, pages_max)
                .await;
            view.read_trades(client, &market, start, end, pages_max)
                .await;
        }
        Ok(view)
    }

    async fn read_orders(
        &mut self,
        client: &ReadOnlyClient,
        market: &Market,
        start: Timestamp,
        end: Timestamp,
        pages_max: u32,
    ) {
        let what = format!("the order history of {market}");
        let mut page_end = end;
        for _ in 0..pages_max {
            let query = OrderHistoryQuery::new(market.clone())
                .with_limit(PAGE)
                .and_then(|q| q.between(start, page_end));
            let Ok(query) = query else {
                return;
            };
            let page = match client.order_history(&query).await {
                Ok(page) => page,
                Err(e) => {
                    self.problems.push(unreachable(&what, &e));
                    return;
                }
            };
            let full = page.len() >= usize::from(PAGE);
            let oldest = page.iter().map(|o| o.created).min();
            for order in page.into_iter().filter(|o| o.created >= start) {
                let key = (order.key.market.clone(), order.key.order_id.to_string());
                self.orders.insert(key, order);
            }
            match oldest {
                Some(oldest) if full && oldest > start => {
                    page_end = oldest - TimeDelta::milliseconds(1);
                }
                _ => return,
            }
        }
        self.problems.push(incomplete(&what, pages_max));
    }

    async fn read_trades(
        &mut self,
        client: &ReadOnlyClient,
        market: &Market,
        start: Timestamp,
        end: Timestamp,
        pages_max: u32,
    ) {
        let what = format!("the fills of {market}");
        let mut pages = 0;
        // Bitvavo answers at most 24 hours per request: walk the period day by day, newest first.
        let mut window_end = end;
        while window_end > start {
            let window_start = (window_end - TimeDelta::hours(24)).max(start);
            let mut page_end = window_end;
            loop {
                if pages >= pages_max {
                    self.problems.push(incomplete(&what, pages_max));
                    return;
                }
                pages += 1;
                let query = TradeHistoryQuery::new(market.clone())
                    .with_limit(PAGE)
                    .and_then(|q| q.between(window_start, page_end));
                let Ok(query) = query else {
                    return;
                };
                let page = match client.trades(&query).await {
                    Ok(page) => page,
                    Err(e) => {
                        self.problems.push(unreachable(&what, &e));
                        return;
                    }
                };
                let full = page.len() >= usize::from(PAGE);
                let oldest = page.iter().map(|t| t.timestamp).min();
                for trade in page.into_iter().filter(|t| t.timestamp >= start) {
                    self.trades
                        .insert((trade.market.clone(), trade.id.clone()), trade);
                }
                match oldest {
                    Some(oldest) if full && oldest > window_start => {
                        page_end = oldest - TimeDelta::milliseconds(1);
                    }
                    _ => break,
                }
            }
            window_end = window_start - TimeDelta::milliseconds(1);
        }
        self.trades_complete.insert(market.clone());
    }
}

fn order_json(o: &Order) -> serde_json::Value {
    json!({
        "market": o.key.market.to_string(),
        "order_id": o.key.order_id.to_string(),
        "client_order_id": o.client_order_id,
        "side": o.side.as_str(),
        "status": format!("{:?}", o.status),
        "created": o.created,
        "amount": o.amount,
        "amount_quote": o.amount_quote,
        "price": o.price,
        "filled_amount": o.filled_amount,
        "filled_amount_quote": o.filled_amount_quote,
    })
}

fn execution_json(e: &Execution) -> serde_json::Value {
    json!({
        "execution_id": e.id,
        "user_id": e.user_id,
        "client_order_id": e.client_order_id,
        "market": e.market.to_string(),
        "state": e.state.as_str(),
        "exchange_order_id": e.exchange_order_id,
        "created_at": e.created_at,
    })
}

fn fill_json(f: &Fill) -> serde_json::Value {
    json!({
        "market": f.market.to_string(),
        "fill_id": f.fill_id,
        "order_id": f.order_id,
        "side": f.side.as_str(),
        "amount": f.amount,
        "price": f.price,
        "fee": f.fee,
        "fee_currency": f.fee_currency.as_str(),
        "filled_at": f.filled_at,
    })
}

fn trade_json(t: &Trade) -> serde_json::Value {
    json!({
        "market": t.market.to_string(),
        "fill_id": t.id,
        "order_id": t.order_id.as_ref().map(ToString::to_string),
        "client_order_id": t.client_order_id,
        "side": t.side.as_str(),
        "amount": t.amount,
        "price": t.price,
        "fee": t.fee,
        "timestamp": t.timestamp,
    })
}

pub(super) async fn check(
    client: Option<&ReadOnlyClient>,
    store: &Store,
    view: &ExchangeView,
    recent: &RecentExecutions,
    start: Timestamp,
) -> Result<Part, StoreError> {
    let mut part = Part::default();
    let by_client: HashMap<ClientOrderId, &Execution> =
        recent.iter().map(|e| (e.client_order_id, e)).collect();
    let by_order: HashMap<(Market, String), &Execution> = recent
        .iter()
        .filter_map(|e| {
            e.exchange_order_id
                .clone()
                .map(|id| ((e.market.clone(), id), e))
        })
        .collect();
    let owner = |o: &Order| -> Option<&Execution> {
        o.client_order_id
            .and_then(|c| by_client.get(&c).copied())
            .or_else(|| {
                by_order
                    .get(&(o.key.market.clone(), o.key.order_id.to_string()))
                    .copied()
            })
    };

    // Orders on the exchange that Vigil does not know, and one clientOrderId used twice.
    let mut orders = view.problems.clone();
    let mut per_client: HashMap<ClientOrderId, Vec<&Order>> = HashMap::new();
    for order in view.orders.values() {
        if let Some(c) = order.client_order_id {
            per_client.entry(c).or_default().push(order);
        }
        if owner(order).is_none() {
            orders.push(AuditFinding {
                check: "exchange",
                code: "unknown_exchange_order",
                summary: format!(
                    "order {} on {} exists on the exchange but no Vigil execution placed it{}",
                    order.key.order_id,
                    order.key.market,
                    if order.client_order_id.is_none() {
                        " (it has no clientOrderId: placed outside Vigil)"
                    } else {
                        ""
                    }
                ),
                evidence: json!({ "order": order_json(order) }),
            });
        }
    }
    for (client_order_id, same) in per_client.iter().filter(|(_, os)| os.len() > 1) {
        orders.push(AuditFinding {
            check: "I1",
            code: "duplicate_exchange_order",
            summary: format!(
                "{} orders on the exchange carry clientOrderId {client_order_id}; at most one may",
                same.len()
            ),
            evidence: json!({ "orders": same.iter().map(|o| order_json(o)).collect::<Vec<_>>() }),
        });
    }
    part.ran(
        "exchange",
        "every exchange order of the period belongs to one Vigil execution",
        orders,
    );

    // Vigil's view against the exchange's.
    let mut executions = Vec::new();
    let in_view = |e: &Execution| -> Option<&Order> {
        view.orders.values().find(|o| {
            o.client_order_id == Some(e.client_order_id)
                || (o.client_order_id.is_none()
                    && o.key.market == e.market
                    && Some(o.key.order_id.to_string()) == e.exchange_order_id)
        })
    };
    for e in recent.iter().filter(|e| e.created_at >= start) {
        match e.state {
            ExecutionState::Submitted | ExecutionState::Filled | ExecutionState::Canceled => {
                if in_view(e).is_some() {
                    continue;
                }
                // Not in the lists read: ask for the order itself before concluding.
                let Some(client) = client else { continue };
                let lookup = match e.exchange_order_id.as_deref().map(OrderId::parse) {
                    Some(Ok(id)) => GetOrder::by_order_id(e.market.clone(), id),
                    _ => GetOrder::by_client_order_id(e.market.clone(), e.client_order_id),
                };
                match client.order(&lookup).await {
                    Ok(order) if order.client_order_id == Some(e.client_order_id) => {}
                    Ok(order) => executions.push(AuditFinding {
                        check: "exchange",
                        code: "exchange_order_not_ours",
                        summary: format!(
                            "execution {} records order {} but the exchange answers that order with clientOrderId {:?}, not {}",
                            e.id,
                            e.exchange_order_id.as_deref().unwrap_or("(none)"),
                            order.client_order_id,
                            e.client_order_id
                        ),
                        evidence: json!({ "execution": execution_json(e), "order": order_json(&order) }),
                    }),
                    Err(err) if err.is_order_not_found() => executions.push(AuditFinding {
                        check: "exchange",
                        code: "execution_unknown_to_exchange",
                        summary: format!(
                            "execution {} is {} with order {} but the exchange does not know that order",
                            e.id,
                            e.state,
                            e.exchange_order_id.as_deref().unwrap_or("(none)")
                        ),
                        evidence: json!({ "execution": execution_json(e), "exchange_answer": err.to_string() }),
                    }),
                    Err(err) => executions.push(unreachable(&format!("order of execution {}", e.id), &err)),
                }
            }
            ExecutionState::Rejected | ExecutionState::Failed => {
                if let Some(order) = in_view(e) {
                    executions.push(AuditFinding {
                        check: "exchange",
                        code: "order_for_unplaced_execution",
                        summary: format!(
                            "execution {} ended {} (no order) but order {} with its clientOrderId exists on the exchange",
                            e.id, e.state, order.key.order_id
                        ),
                        evidence: json!({ "execution": execution_json(e), "order": order_json(order) }),
                    });
                }
            }
            ExecutionState::Claimed | ExecutionState::Submitting => {}
        }
    }
    part.ran(
        "exchange",
        "every execution that placed an order is known to the exchange; none that ended without one has one",
        executions,
    );

    part.ran(
        "fills",
        "trade_history agrees with the exchange's fills",
        fills(store, view, recent, start).await?,
    );
    Ok(part)
}

async fn fills(
    store: &Store,
    view: &ExchangeView,
    recent: &RecentExecutions,
    start: Timestamp,
) -> Result<Vec<AuditFinding>, StoreError> {
    let mut found = Vec::new();
    for e in recent.iter().filter(|e| e.state.may_hold_an_order()) {
        let recorded = store.fill_list_for_execution(e.id).await?;
        for fill in recorded.iter().filter(|f| f.filled_at >= start) {
            match view.trades.get(&(fill.market.clone(), fill.fill_id.clone())) {
                // The fills of that market were not all read (the failure is its own finding):
                // a fill missing from a list not read proves nothing.
                None if !view.trades_complete.contains(&fill.market) => {}
                None => found.push(AuditFinding {
                    check: "fills",
                    code: "fill_unknown_to_exchange",
                    summary: format!(
                        "fill {} of execution {} is in trade_history but not in the exchange's fills",
                        fill.fill_id, e.id
                    ),
                    evidence: json!({ "recorded": fill_json(fill) }),
                }),
                Some(trade) => {
                    let differs = trade.amount != fill.amount
                        || trade.price != fill.price
                        || trade.side != fill.side
                        || trade.fee.is_some_and(|fee| fee != fill.fee)
                        || trade
                            .order_id
                            .as_ref()
                            .is_some_and(|id| id.as_str() != fill.order_id);
                    if differs {
                        found.push(AuditFinding {
                            check: "fills",
                            code: "fill_mismatch",
                            summary: format!(
                                "fill {} of execution {} differs between trade_history and the exchange",
                                fill.fill_id, e.id
                            ),
                            evidence: json!({ "recorded": fill_json(fill), "exchange": trade_json(trade) }),
                        });
                    }
                }
            }
        }
        // A finished order's fills must all be recorded (an open one may still be followed).
        if !e.state.is_final() {
            continue;
        }
        let recorded_ids: BTreeSet<&str> = recorded.iter().map(|f| f.fill_id.as_str()).collect();
        for trade in view.trades.values().filter(|t| {
            t.market == e.market
                && (t.client_order_id == Some(e.client_order_id)
                    || t.order_id.as_ref().map(ToString::to_string) == e.exchange_order_id)
        }) {
            if !recorded_ids.contains(trade.id.as_str()) {
                found.push(AuditFinding {
                    check: "fills",
                    code: "fill_missing",
                    summary: format!(
                        "the exchange has fill {} of execution {} ({}) but trade_history does not",
                        trade.id, e.id, e.state
                    ),
                    evidence: json!({ "exchange": trade_json(trade), "execution": execution_json(e) }),
                });
            }
        }
    }
    Ok(found)
}
