//! Operator actions and their audit rows (I11), users and tokens, and proposal CAS.

use vigil_core::{proposal::ProposalAction, Notional, Policy, ProposalStatus, Side};
use vigil_store::{
    Attribution, AuditFilter, Authority, KillSwitchScope, KillSwitches, PolicyCeilings,
    PolicyLimits, ProposalFilter, Store, StoreError, TokenHash,
};

use crate::fixture::{approved_proposal, market, t0, user};

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    crate::fixture::TestDb::run;
    i11_policy_changes_are_audited_with_before_and_after,
    i5_allowlist_changes_are_audited_and_idempotent,
    i4_kill_switches_are_audited_and_read_back,
    i4_a_switch_an_admin_set_is_cleared_only_by_an_admin,
    a_user_raises_their_own_caps_only_after_24_hours_and_never_above_the_ceilings,
    two_changes_decided_against_one_policy_cannot_both_be_written,
    proposal_status_changes_by_compare_and_set,
    users_and_api_tokens,
);

fn ops() -> Attribution {
    Attribution::new("ops", t0()).because("first live day")
}

async fn audit_for(store: &Store, target: String) -> Vec<vigil_store::AuditEntry> {
    store
        .audit_list(&AuditFilter {
            target: Some(target),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
}

async fn i11_policy_changes_are_audited_with_before_and_after(store: Store) {
    let alice = user(&store, "alice").await;
    assert_eq!(store.policy_get(alice.id).await.unwrap(), Policy::default());
    let enabled = Policy {
        trading_enabled: true,
        order_notional_max: Notional::from_whole(30),
        ..Policy::default()
    };
    store
        .policy_set(
            alice.id,
            &enabled,
            &ops(),
            vigil_store::PolicyLimits::Operator,
        )
        .await
        .unwrap();
    assert_eq!(store.policy_get(alice.id).await.unwrap(), enabled);

    let entries = audit_for(&store, format!("user:{}", alice.id)).await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.action, "policy.set");
    assert_eq!(entry.actor, "ops");
    assert_eq!(entry.reason.as_deref(), Some("first live day"));
    assert_eq!(entry.at, t0());
    assert_eq!(
        serde_json::from_value::<Policy>(entry.before.clone().unwrap()).unwrap(),
        Policy::default()
    );
    assert_eq!(
        serde_json::from_value::<Policy>(entry.after.clone().unwrap()).unwrap(),
        enabled
    );

    // An invalid policy is refused whole, and nothing is written or audited.
    let invalid = Policy {
        order_notional_max: Notional::ZERO,
        ..enabled.clone()
    };
    let err = store
        .policy_set(
            alice.id,
            &invalid,
            &ops(),
            vigil_store::PolicyLimits::Operator,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    assert_eq!(store.policy_get(alice.id).await.unwrap(), enabled);
    assert_eq!(
        audit_for(&store, format!("user:{}", alice.id)).await.len(),
        1
    );
}

async fn i5_allowlist_changes_are_audited_and_idempotent(store: Store) {
    let alice = user(&store, "alice").await;
    assert!(
        store.allowlist_list(alice.id).await.unwrap().is_empty(),
        "deny by default"
    );
    assert!(store
        .allowlist_add(alice.id, &market("BTC-EUR"), &ops())
        .await
        .unwrap());
    assert!(!store
        .allowlist_add(alice.id, &market("BTC-EUR"), &ops())
        .await
        .unwrap());
    assert!(store
        .allowlist_add(alice.id, &market("ETH-EUR"), &ops())
        .await
        .unwrap());
    assert!(store
        .allowlist_remove(alice.id, &market("ETH-EUR"), &ops())
        .await
        .unwrap());
    assert!(!store
        .allowlist_remove(alice.id, &market("ETH-EUR"), &ops())
        .await
        .unwrap());
    let list = store.allowlist_list(alice.id).await.unwrap();
    assert_eq!(list.into_iter().collect::<Vec<_>>(), [market("BTC-EUR")]);

    let mut actions: Vec<_> = audit_for(&store, format!("user:{}", alice.id))
        .await
        .into_iter()
        .map(|e| (e.action, e.before, e.after))
        .collect();
    actions.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(
        actions,
        vec![
            (
                "allowlist.add".into(),
                None,
                Some(serde_json::json!("BTC-EUR"))
            ),
            (
                "allowlist.add".into(),
                None,
                Some(serde_json::json!("ETH-EUR"))
            ),
            (
                "allowlist.remove".into(),
                Some(serde_json::json!("ETH-EUR")),
                None
            ),
        ],
        "only real changes are audited"
    );
}

async fn i4_kill_switches_are_audited_and_read_back(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let off = KillSwitches {
        global: false,
        user: false,
    };
    assert_eq!(store.kill_switch_read(alice.id).await.unwrap(), off);

    assert!(!store
        .kill_switch_set(
            KillSwitchScope::User(alice.id),
            true,
            &ops(),
            vigil_store::Authority::Admin
        )
        .await
        .unwrap());
    assert_eq!(
        store.kill_switch_read(alice.id).await.unwrap(),
        KillSwitches {
            global: false,
            user: true
        }
    );
    assert_eq!(
        store.kill_switch_read(bob.id).await.unwrap(),
        off,
        "only alice stopped"
    );
    assert!(store.user_get(alice.id).await.unwrap().kill_switch);

    assert!(!store
        .kill_switch_set(
            KillSwitchScope::Global,
            true,
            &ops(),
            vigil_store::Authority::Admin
        )
        .await
        .unwrap());
    assert!(store.kill_switch_read_global().await.unwrap());
    assert!(store.kill_switch_read(bob.id).await.unwrap().any());
    assert!(store
        .kill_switch_set(
            KillSwitchScope::Global,
            false,
            &ops(),
            vigil_store::Authority::Admin
        )
        .await
        .unwrap());

    let global = audit_for(&store, "global".into()).await;
    assert_eq!(global.len(), 2);
    assert!(global.iter().all(|e| e.action == "kill_switch.set"));
    let user_entries = audit_for(&store, format!("user:{}", alice.id)).await;
    assert_eq!(user_entries.len(), 1);
    assert_eq!(user_entries[0].before, Some(serde_json::json!(false)));
    assert_eq!(user_entries[0].after, Some(serde_json::json!(true)));

    let err = store
        .kill_switch_set(
            KillSwitchScope::User(vigil_core::UserId::new()),
            true,
            &ops(),
            vigil_store::Authority::Admin,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );
}

/// #18 case 4: a user may always turn their own switch on, and off only when they turned it
/// on; a switch an admin turned on (or took over) stays on until an admin turns it off.
async fn i4_a_switch_an_admin_set_is_cleared_only_by_an_admin(store: Store) {
    let bob = user(&store, "bob").await;
    let scope = KillSwitchScope::User(bob.id);
    let as_bob = Attribution::new("bob", t0());
    let as_admin = Attribution::new("cli:operator", t0());
    let on = |store: Store| async move { store.kill_switch_read(bob.id).await.unwrap().user };

    // The admin turns it on: bob can neither turn it off nor take it over by turning it on.
    store
        .kill_switch_set(scope, true, &as_admin, Authority::Admin)
        .await
        .unwrap();
    let setter = store.kill_switch_setter(bob.id).await.unwrap().unwrap();
    assert_eq!(
        (setter.actor.as_str(), setter.authority),
        ("cli:operator", Authority::Admin)
    );
    store
        .kill_switch_set(scope, true, &as_bob, Authority::Owner)
        .await
        .unwrap();
    let err = store
        .kill_switch_set(scope, false, &as_bob, Authority::Owner)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotPermitted { detail } if detail.contains("cli:operator")),
        "{err:?}"
    );
    assert!(on(store.clone()).await, "the refused change wrote nothing");
    let audited = audit_for(&store, format!("user:{}", bob.id)).await;
    assert_eq!(audited.len(), 2, "the refusal is not a change: {audited:?}");
    store
        .kill_switch_set(scope, false, &as_admin, Authority::Admin)
        .await
        .unwrap();
    assert!(!on(store.clone()).await);
    assert_eq!(store.kill_switch_setter(bob.id).await.unwrap(), None);

    // Bob's own switch: he turns it off again.
    store
        .kill_switch_set(scope, true, &as_bob, Authority::Owner)
        .await
        .unwrap();
    store
        .kill_switch_set(scope, false, &as_bob, Authority::Owner)
        .await
        .unwrap();
    assert!(!on(store.clone()).await);

    // An admin turning on bob's own switch takes it over.
    store
        .kill_switch_set(scope, true, &as_bob, Authority::Owner)
        .await
        .unwrap();
    store
        .kill_switch_set(scope, true, &as_admin, Authority::Admin)
        .await
        .unwrap();
    assert!(store
        .kill_switch_set(scope, false, &as_bob, Authority::Owner)
        .await
        .is_err());
    assert!(on(store.clone()).await);

    // The global switch needs an admin, on or off.
    let err = store
        .kill_switch_set(KillSwitchScope::Global, true, &as_bob, Authority::Owner)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotPermitted { .. }), "{err:?}");
    assert!(!store.kill_switch_read_global().await.unwrap());
}

/// #18 cases 5 and 6: under the owner's limits a cap or budget goes up only after the current
/// ones have been in force for 24 hours (a new user has not had them that long), never above
/// the deployment's ceilings; lowering is always allowed; an operator is not bound.
async fn a_user_raises_their_own_caps_only_after_24_hours_and_never_above_the_ceilings(
    store: Store,
) {
    let bob = user(&store, "bob").await;
    let owner = PolicyLimits::Owner(PolicyCeilings::default());
    let at = |hours: i64| Attribution::new("api:bob", t0() + chrono::TimeDelta::hours(hours));
    let with = |order: u32, daily: u32, budget: u32| Policy {
        order_notional_max: Notional::from_whole(order),
        daily_notional_max: Notional::from_whole(daily),
        llm_daily_budget: budget.into(),
        ..Policy::default()
    };
    let refused = |result: Result<(), StoreError>, needle: &str| match result {
        Err(StoreError::NotPermitted { detail }) => {
            assert!(detail.contains(needle), "{needle:?} not in {detail:?}");
        }
        other => panic!("expected a refusal naming {needle:?}, got {other:?}"),
    };

    // Created an hour ago: no raise yet, not even within the ceilings.
    refused(
        store
            .policy_set(bob.id, &with(25, 200, 1), &at(1), owner)
            .await,
        "daily_notional_max 100 → 200",
    );
    // Lowering, and changes that raise nothing, are always allowed.
    store
        .policy_set(
            bob.id,
            &Policy {
                trading_enabled: true,
                ..Policy::default()
            },
            &at(2),
            owner,
        )
        .await
        .unwrap();
    store
        .policy_set(bob.id, &with(25, 100, 1), &at(3), owner)
        .await
        .unwrap();
    // A day at the caps (toggling trading did not change them): the raise is allowed.
    store
        .policy_set(bob.id, &with(25, 200, 1), &at(25), owner)
        .await
        .unwrap();
    // The caps just changed: the next raise waits another day.
    refused(
        store
            .policy_set(bob.id, &with(25, 240, 1), &at(30), owner)
            .await,
        "in force only since",
    );
    // Above the ceilings: never, however long the caps held (the LLM budget too, case 6).
    refused(
        store
            .policy_set(bob.id, &with(1_000_000, 10_000_000, 1), &at(60), owner)
            .await,
        "order_notional_max 1000000 is above the deployment's ceiling 25",
    );
    refused(
        store
            .policy_set(bob.id, &with(25, 200, 1_000_000), &at(60), owner)
            .await,
        "llm_daily_budget 1000000 is above the deployment's ceiling 5",
    );
    assert_eq!(
        store.policy_get(bob.id).await.unwrap(),
        with(25, 200, 1),
        "the refusals wrote nothing"
    );
    store
        .policy_set(bob.id, &with(25, 250, 5), &at(60), owner)
        .await
        .unwrap();
    // An operator (or admin) is bound by neither rule.
    store
        .policy_set(
            bob.id,
            &with(1_000, 5_000, 50),
            &at(61),
            PolicyLimits::Operator,
        )
        .await
        .unwrap();
}

async fn proposal_status_changes_by_compare_and_set(store: Store) {
    let alice = user(&store, "alice").await;
    let proposal = approved_proposal(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    assert_eq!(proposal.status, ProposalStatus::Approved);
    // The fixture approved without attribution: no audit row.
    let target = format!("proposal:{}", proposal.id);
    assert!(audit_for(&store, target.clone()).await.is_empty());

    // A stale expectation loses and learns the truth.
    let err = store
        .proposal_transition(
            proposal.id,
            ProposalStatus::Pending,
            ProposalAction::Approve,
            t0(),
            None,
        )
        .await
        .unwrap_err();
    match err {
        StoreError::ProposalConflict { expected, current } => {
            assert_eq!(expected, ProposalStatus::Pending);
            assert_eq!(current.status, ProposalStatus::Approved);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The lifecycle refuses illegal moves before anything is written.
    let err = store
        .proposal_transition(
            proposal.id,
            ProposalStatus::Expired,
            ProposalAction::Approve,
            t0(),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ProposalTransition(_)), "{err:?}");

    // A person cancels: audited.
    let cancelled = store
        .proposal_transition(
            proposal.id,
            ProposalStatus::Approved,
            ProposalAction::Cancel,
            t0(),
            Some(&ops()),
        )
        .await
        .unwrap();
    assert_eq!(cancelled.status, ProposalStatus::Cancelled);
    let entries = audit_for(&store, target).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "proposal.cancel");
    assert_eq!(entries[0].before, Some(serde_json::json!("APPROVED")));
    assert_eq!(entries[0].after, Some(serde_json::json!("CANCELLED")));

    let listed = store
        .proposal_list(&ProposalFilter {
            user: Some(alice.id),
            status: Some(ProposalStatus::Cancelled),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed, vec![cancelled]);
    assert!(store
        .proposal_list(&ProposalFilter {
            status: Some(ProposalStatus::Approved),
            ..ProposalFilter::default()
        })
        .await
        .unwrap()
        .is_empty());
}

async fn users_and_api_tokens(store: Store) {
    let alice = store.user_create("alice", true, t0()).await.unwrap();
    assert_eq!(store.user_get(alice.id).await.unwrap(), alice);
    assert_eq!(store.user_get_by_name("alice").await.unwrap(), alice);
    assert!(matches!(
        store.user_get_by_name("nobody").await,
        Err(StoreError::NotFound { .. })
    ));
    let err = store.user_create("alice", false, t0()).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::ConstraintViolation { constraint, .. } if constraint == "users_name_key"),
        "{err:?}"
    );
    let err = store
        .user_create("bad name!", false, t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    store.user_create("bob", false, t0()).await.unwrap();
    let names: Vec<_> = store
        .user_list()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    let hash = TokenHash::of_token("vigil_secret_token");
    let token = store.api_token_create(alice.id, &hash, t0()).await.unwrap();
    assert_eq!(
        store.api_token_find_active(&hash).await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(
        store
            .api_token_find_active(&TokenHash::of_token("other"))
            .await
            .unwrap(),
        None
    );
    store.api_token_revoke(token.id, &ops()).await.unwrap();
    store.api_token_revoke(token.id, &ops()).await.unwrap();
    assert_eq!(
        store.api_token_find_active(&hash).await.unwrap(),
        None,
        "revoked"
    );
    assert_eq!(
        audit_for(&store, format!("api_token:{}", token.id))
            .await
            .len(),
        1
    );
}

/// #11 (the stability window's time of check and time of use): a change is written only if the
/// policy is still the one its check judged. Of ten raises decided at once against the same
/// policy, exactly one is written; the others are `PolicyConflict` and write nothing, not even
/// the extra audit entry that would have gone with them.
async fn two_changes_decided_against_one_policy_cannot_both_be_written(store: Store) {
    let alice = user(&store, "alice").await;
    let judged = store.policy_get(alice.id).await.unwrap();
    let tasks: Vec<_> = (0..10u32)
        .map(|i| {
            let (store, judged) = (store.clone(), judged.clone());
            tokio::spawn(async move {
                let raised = Policy {
                    order_notional_max: Notional::from_whole(30 + i),
                    ..judged.clone()
                };
                let by = Attribution::new(format!("op{i}"), t0());
                let also = vigil_store::AuditEntry::new(
                    &by,
                    "test.also",
                    format!("user:{}", alice.id),
                    None,
                    None,
                );
                store
                    .policy_replace(
                        alice.id,
                        Some(&judged),
                        &raised,
                        &by,
                        PolicyLimits::Operator,
                        Some(&also),
                    )
                    .await
            })
        })
        .collect();
    let mut written = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => written += 1,
            Err(StoreError::PolicyConflict { user }) => assert_eq!(user, alice.id),
            Err(other) => panic!("expected a policy conflict, got {other:?}"),
        }
    }
    assert_eq!(
        written, 1,
        "exactly one change decided against the same policy is written"
    );
    let entries = audit_for(&store, format!("user:{}", alice.id)).await;
    let count = |action: &str| entries.iter().filter(|e| e.action == action).count();
    assert_eq!(
        (count("policy.set"), count("test.also")),
        (1, 1),
        "{entries:#?}"
    );
    // Against the policy as it now is, a change goes through.
    let now = store.policy_get(alice.id).await.unwrap();
    assert_ne!(now, judged);
    store
        .policy_replace(
            alice.id,
            Some(&now),
            &judged,
            &ops(),
            PolicyLimits::Operator,
            None,
        )
        .await
        .unwrap();
}
