-- Promotion codes the shopper typed, upper case, as a JSON array; checkout uses them unless told
-- otherwise.
ALTER TABLE carts ADD COLUMN codes JSON NULL;
