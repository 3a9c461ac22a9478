//! Staff edits of products, variants and pictures: each in one transaction with its row in the
//! audit trail (what it was, what it became).

use pola_core::{
    Error, FieldError,
    audit::Change,
    auth::{Role, Staff},
};
use uuid::Uuid;

use crate::{
    Catalog,
    images::{NewProductImage, ProductImage, ProductImagePatch},
    model::{MAX_PRICE_MINOR, ProductDetail, ProductPatch, Status, VariantPatch},
    store,
};

impl Catalog {
    /// Changes a product's name, description, category or status.
    pub async fn update_product(&self, staff: &Staff, id: Uuid, patch: &ProductPatch) -> Result<ProductDetail, Error> {
        staff.require(Role::Catalog)?;
        let mut errors = vec![];
        if patch
            .name
            .as_deref()
            .is_some_and(|n| n.trim().is_empty() || n.chars().count() > 200)
        {
            errors.push(FieldError::new("name", "must be 1-200 characters"));
        }
        if patch.description.as_deref().is_some_and(|d| d.chars().count() > 5000) {
            errors.push(FieldError::new("description", "must be at most 5000 characters"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let category = match &patch.category {
            Some(slug) => Some(
                store::category_id(&self.pool, slug)
                    .await?
                    .ok_or_else(|| Error::field("category", "no such category"))?,
            ),
            None => None,
        };
        let mut tx = self.pool.begin().await?;
        let before = store::product(&mut *tx, id)
            .await?
            .ok_or_else(|| Error::not_found("No such product."))?;
        let name = patch.name.as_deref().map(str::trim);
        store::update_product(&mut tx, id, name, patch.description.as_deref(), category, patch.status).await?;
        let after = store::product(&mut *tx, id).await?;
        let action = match patch.status {
            Some(Status::Archived) if before.status != Status::Archived => "product.archive",
            _ => "product.update",
        };
        self.commit_shown(
            tx,
            staff,
            Some(id),
            Change::new(action, "product", id).before(&before).after(&after),
        )
        .await?;
        tracing::info!(product.id = %id, staff.id = %staff.id, action, "product changed");
        self.detail(id, true).await
    }

    /// Changes a variant's price or status; carts and checkouts read the new price from then on.
    pub async fn update_variant(&self, staff: &Staff, id: Uuid, patch: &VariantPatch) -> Result<ProductDetail, Error> {
        staff.require(Role::Catalog)?;
        if patch.price_minor.is_some_and(|p| !(0..=MAX_PRICE_MINOR).contains(&p)) {
            return Err(Error::field("price_minor", "must be between 0 and 10000000000"));
        }
        let mut tx = self.pool.begin().await?;
        let before = store::variant_state(&mut tx, id)
            .await?
            .ok_or_else(|| Error::not_found("No such variant."))?;
        let product = store::update_variant(&mut tx, id, patch.price_minor, patch.status)
            .await?
            .ok_or_else(|| Error::not_found("No such variant."))?;
        let after = store::variant_state(&mut tx, id).await?;
        let change = Change::new("variant.update", "variant", id).before(&before).after(&after);
        self.commit_shown(tx, staff, Some(product), change).await?;
        tracing::info!(variant.id = %id, staff.id = %staff.id, "variant updated");
        self.detail(product, true).await
    }

    /// Shows an uploaded picture on a product (or one of its variants).
    pub async fn attach_image(&self, staff: &Staff, product: Uuid, new: &NewProductImage) -> Result<ProductImage, Error> {
        staff.require(Role::Catalog)?;
        new.validate().map_err(Error::Validation)?;
        let (width, height, widths) = store::image_sizes(&self.pool, &new.image)
            .await?
            .ok_or_else(|| Error::field("image", "no picture was uploaded with this hash"))?;
        let id = pola_core::new_id();
        let mut tx = self.pool.begin().await?;
        if !store::insert_product_image(&mut tx, id, product, new).await? {
            return Err(match new.variant_id {
                Some(_) => Error::field("variant_id", "not a variant of this product"),
                None => Error::not_found("No such product."),
            });
        }
        let shown = ProductImage {
            id,
            variant_id: new.variant_id,
            url: format!("/images/{}", new.image),
            widths: crate::images::parse_widths(&widths),
            width,
            height,
            alt: new.alt.clone(),
        };
        let change = Change::new("product.image-attach", "product", product).after(&shown);
        self.commit_shown(tx, staff, Some(product), change).await?;
        Ok(shown)
    }

    /// Changes a picture's alt text or its place among the product's pictures.
    pub async fn update_image(&self, staff: &Staff, product: Uuid, id: Uuid, patch: &ProductImagePatch) -> Result<(), Error> {
        staff.require(Role::Catalog)?;
        patch.validate().map_err(Error::Validation)?;
        let mut tx = self.pool.begin().await?;
        let before = store::lock_product_image(&mut tx, product, id)
            .await?
            .ok_or_else(|| Error::not_found("No such picture on this product."))?;
        let after = store::PlacedImage {
            position: patch.position.unwrap_or(before.position),
            alt_en: patch.alt.as_ref().map_or_else(|| before.alt_en.clone(), |a| a.en.clone()),
            alt_si: patch.alt.as_ref().map_or_else(|| before.alt_si.clone(), |a| a.si.clone()),
            alt_ta: patch.alt.as_ref().map_or_else(|| before.alt_ta.clone(), |a| a.ta.clone()),
        };
        store::update_product_image(&mut tx, product, id, &after).await?;
        let change = Change::new("product.image-update", "product", product)
            .before(serde_json::json!({"image_id": id, "picture": before}))
            .after(serde_json::json!({"image_id": id, "picture": after}));
        self.commit_shown(tx, staff, Some(product), change).await
    }

    /// Takes a picture off a product (the picture itself stays: others may show it).
    pub async fn detach_image(&self, staff: &Staff, product: Uuid, id: Uuid) -> Result<(), Error> {
        staff.require(Role::Catalog)?;
        let mut tx = self.pool.begin().await?;
        if !store::delete_product_image(&mut tx, product, id).await? {
            return Err(Error::not_found("No such picture on this product."));
        }
        let change = Change::new("product.image-detach", "product", product).before(serde_json::json!({"image_id": id}));
        self.commit_shown(tx, staff, Some(product), change).await
    }
}
