//! Providers: pull items from helpdesk APIs and map vendor JSON to the neutral model.
