-- Cash on delivery is confirmed without payment; a failed delivery goes out again or comes back.
ALTER TABLE orders MODIFY status ENUM('pending_payment', 'paid', 'confirmed', 'packed', 'shipped', 'delivered', 'delivery_failed', 'returned', 'cancelled', 'refunded') NOT NULL;
