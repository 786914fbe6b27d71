//! TYPE A <-> TYPE I streaming transcoder (being written).
