//! LIST, NLST and MLSx formatting (being written).
