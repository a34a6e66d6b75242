//! kplay lab (being written)
