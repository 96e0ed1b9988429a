//! The behaviour every state store backend must show, written once, one module per port:
//! [`links`], [`runs`], [`lease`], [`ledger`] (together the `StateStore`), [`integrations`] and
//! [`audit`].
//! Each case takes a fresh, empty store. Each module has a macro that turns its cases into one
//! `#[tokio::test]` each for one backend, also from other crates (feature `contract-tests`);
//! [`state_store_contract_tests!`](crate::state_store_contract_tests) runs the four of the state.
//! Time is passed in, so nothing sleeps.

pub mod audit;
pub(crate) mod fixtures;
pub mod integrations;
pub mod lease;
pub mod ledger;
pub mod links;
pub mod runs;

pub use fixtures::integration_record;

/// Generates one `#[tokio::test]` per `StateStore` contract case: the cases of links, runs, the
/// lease and the certificate ledger. `$setup` yields `(guard, store)`: the guard (a temp dir, or
/// `()`) lives as long as the test.
///
/// ```ignore
/// mod memory_contract {
///     common::state_store_contract_tests!(((), common::store::MemoryStore::new()));
/// }
/// ```
#[macro_export]
macro_rules! state_store_contract_tests {
    ($setup:expr) => {
        $crate::link_store_contract_tests!($setup);
        $crate::run_store_contract_tests!($setup);
        $crate::lease_store_contract_tests!($setup);
        $crate::certificate_ledger_contract_tests!($setup);
    };
}

/// One `#[tokio::test]` per named case of the contract module `$module`, each on a store of its
/// own from `$setup`. The macros of the contract modules expand to it.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_cases {
    ($setup:expr; $module:ident; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let (_guard, store) = $setup;
                $crate::store::contract::$module::$case(&store).await;
            }
        )+
    };
}
