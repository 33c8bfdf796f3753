//! API and page tests: each starts the real server on a random port over a fresh database and
//! speaks HTTP to it, on SQLite and (when `PEYVAND_TEST_DATABASE_URL` is set) PostgreSQL.

mod helpers;

mod accounts;
mod admin;
mod aggregates;
mod automation;
mod bad_input;
mod browser;
mod consent;
mod customers;
mod feedback;
mod hardening;
mod imports;
mod insights;
mod loyalty;
mod marketing;
mod matrix;
mod openapi;
mod pages;
mod portal;
mod records;
mod sales;
mod scale;
mod search;
mod service;
mod shell;
mod sso;
mod tasks;
mod teams;
mod two_factor;
mod views;
mod webdriver;
