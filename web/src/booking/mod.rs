//! Booking's server side lives in `booking/server` (`confidant-booking-server`); the old paths
//! (`confidant::booking::…`) stay for the tests and the pages.

pub use confidant_booking_server::*;
