//! The store conformance suite: every test runs against every backend
//! available (see `backends`), and the run ends by naming the backends that
//! ran.
//!
//! `cargo test --test store` runs it on SQLite; set `TEST_MONGO_URI` (a
//! replica set, e.g. `mongodb://localhost:27017/?replicaSet=rs0`) and/or
//! `TEST_MONGO_STANDALONE_URI` (a standalone server) to run it on MongoDB
//! too (`scripts/mongo-replset.sh` starts either locally). A MongoDB that is
//! configured but unreachable fails the run.
//!
//! Each test runs once per backend, as `<backend>::<module>::<test>`:
//! `cargo test --test store sqlite::sessions`, `-- --list`, `-- --exact
//! mongodb-replset::users::ping_and_backend_name` work as with libtest.

mod accounts;
mod backends;
mod faults;
mod fixtures;
mod harness;
mod keys;
mod limits;
mod registration;
mod report_settings;
mod sessions;
mod users;

use harness::{Case, TestFuture};

/// `Case`s named after their paths.
macro_rules! cases {
    ($($module:ident :: $test:ident),* $(,)?) => {
        vec![$(
            Case {
                name: concat!(stringify!($module), "::", stringify!($test)),
                run: |ctx| -> TestFuture { Box::pin($module::$test(ctx)) },
            },
        )*]
    };
}

fn main() {
    harness::main(cases![
        users::ping_and_backend_name,
        users::create_user_stores_the_user_and_the_default_setting,
        users::lookups_by_email_and_by_id,
        users::unknown_users_are_none,
        users::duplicate_email_is_refused_case_insensitively,
        users::concurrent_registrations_of_one_email,
        users::a_password_hash_is_replaced_only_if_unchanged,
        registration::a_failed_second_write_leaves_no_user,
        registration::a_taken_email_leaves_no_stray_setting,
        report_settings::update_applies_a_partial_patch,
        report_settings::updating_an_unknown_users_setting_is_none,
        report_settings::settings_are_per_user,
        report_settings::a_missing_setting_is_repaired_with_the_defaults,
        report_settings::an_unknown_user_gets_no_repaired_setting,
        report_settings::concurrent_repairs_make_one_setting,
        faults::refused_credentials_are_a_configuration_error,
        faults::an_index_build_over_duplicate_emails_says_what_to_clean,
        faults::a_registration_against_failing_inserts_ends_within_the_budget,
        sessions::create_and_find,
        sessions::rotate_with_the_current_token,
        sessions::rotate_with_a_stale_token_fails,
        sessions::rotate_a_revoked_or_expired_session_fails,
        sessions::rotation_race_has_exactly_one_winner,
        sessions::touch_moves_last_used_forward_only,
        sessions::revoke_own_versus_another_users_session,
        sessions::revoke_all_revokes_only_the_users_live_sessions,
        sessions::list_returns_live_sessions_newest_first,
        sessions::purge_deletes_expired_and_revoked_sessions,
        sessions::rotate_current_returns_the_rotated_session,
        sessions::rotate_current_never_slides_past_the_maximum_lifetime,
        sessions::rotate_current_race_has_exactly_one_winner,
        limits::a_shared_limit_allows_its_budget_then_says_how_long_to_wait,
        limits::simultaneous_spends_never_exceed_the_budget,
        limits::refilled_counters_are_purged,
        keys::keys_round_trip_oldest_generation_first,
        keys::a_taken_generation_or_kid_is_refused,
        keys::racing_inserts_of_one_generation_have_one_winner,
        keys::the_key_manager_makes_one_key_and_rotates,
        accounts::tokens_are_found_live_by_hash_and_purpose_only,
        accounts::only_the_newest_token_of_a_purpose_is_valid,
        accounts::a_reset_token_is_single_use_even_when_used_twice_at_once,
        accounts::a_reset_sets_the_password_verifies_the_address_and_ends_every_session,
        accounts::a_password_change_keeps_the_callers_session_only,
        accounts::a_verification_link_verifies_the_address_it_was_sent_to,
        accounts::an_email_change_applies_when_its_link_is_used_unless_taken,
        accounts::deleting_a_user_leaves_nothing_and_frees_the_email,
        accounts::used_and_expired_tokens_are_purged,
    ]);
}
