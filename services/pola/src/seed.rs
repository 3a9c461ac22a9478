//! The demo shop: a Sri Lankan catalogue big enough to measure — batik, sarees, tea, spices,
//! sweets, handloom, tailoring and delivery slots, gift boxes — with stock in two locations and
//! a drawn picture on every product.

use std::collections::{BTreeMap, HashMap};

use indicatif::{ProgressBar, ProgressStyle};
use pola_catalog::model::{
    AttributeDef, AttributeKind, BundleComponent, NewCategory, NewProduct, NewProductType, NewVariant, ProductKind,
};
use pola_core::config::Config;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use serde_json::{Value, json};
use uuid::Uuid;

use pola_catalog::{Catalog, images::AltText};
use pola_inventory::Inventory;

use crate::pictures::Motif;

const BATCH: usize = 500;

fn enum_attr(code: &str, name: &str, values: &[&str]) -> AttributeDef {
    AttributeDef {
        code: code.into(),
        name: name.into(),
        kind: AttributeKind::Enum {
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        },
    }
}

fn grams() -> AttributeDef {
    AttributeDef {
        code: "weight".into(),
        name: "Weight".into(),
        kind: AttributeKind::Number { unit: "g".into() },
    }
}

const SIZES: &[&str] = &["S", "M", "L", "XL"];
const COLOURS: &[&str] = &["Indigo", "Maroon", "Saffron", "Forest green", "Sea blue", "Ivory"];
const FABRICS: &[&str] = &["Cotton", "Silk", "Handloom cotton"];
const TEAS: &[&str] = &["Pure Ceylon", "Earl Grey", "Cinnamon", "Ginger", "Jasmine", "Soursop", "Mint"];
const SWEETS: &[&str] = &["Kokis", "Kavum", "Aasmi", "Aluwa", "Dodol", "Milk toffee"];
const GARMENTS: &[&str] = &["Shirt", "Saree jacket", "Trousers"];
const SLOTS: &[&str] = &["Morning", "Afternoon", "Evening"];
const AREAS: &[&str] = &["Colombo", "Kandy", "Galle", "Jaffna", "Kurunegala"];
const LINEN: &[&str] = &["Single", "Double", "Runner"];
const MOTIFS: &[&str] = &[
    "Kandyan",
    "Peacock",
    "Lotus",
    "Elephant",
    "Frangipani",
    "Sigiriya",
    "Ruhuna",
    "Galle Fort",
    "Nuwara Eliya",
    "Kelani",
    "Liyawela",
    "Hansa",
    "Araliya",
    "Mal",
    "Vesak",
    "Yala",
];
const ESTATES: &[&str] = &[
    "Dimbula",
    "Uva",
    "Kandy",
    "Ruhuna",
    "Sabaragamuwa",
    "Nuwara Eliya",
    "Uda Pussellawa",
];
const SPICES: &[&str] = &[
    "Cinnamon quills",
    "Black pepper",
    "Cardamom",
    "Cloves",
    "Nutmeg",
    "Curry powder (roasted)",
    "Turmeric",
    "Goraka",
];

fn types() -> Vec<NewProductType> {
    let t = |code: &str, name: &str, attributes| NewProductType {
        code: code.into(),
        name: name.into(),
        attributes,
    };
    vec![
        t(
            "shirt",
            "Shirt",
            vec![enum_attr("size", "Size", SIZES), enum_attr("colour", "Colour", COLOURS)],
        ),
        t(
            "saree",
            "Saree",
            vec![enum_attr("colour", "Colour", COLOURS), enum_attr("fabric", "Fabric", FABRICS)],
        ),
        t("tea", "Tea", vec![enum_attr("flavour", "Flavour", TEAS), grams()]),
        t("spice", "Spice", vec![grams()]),
        t("sweets", "Sweets", vec![enum_attr("flavour", "Flavour", SWEETS)]),
        t(
            "handloom",
            "Handloom linen",
            vec![enum_attr("colour", "Colour", COLOURS), enum_attr("size", "Size", LINEN)],
        ),
        t("tailoring", "Tailoring", vec![enum_attr("garment", "Garment", GARMENTS)]),
        t(
            "delivery_slot",
            "Delivery slot",
            vec![enum_attr("slot", "Slot", SLOTS), enum_attr("area", "Area", AREAS)],
        ),
        t("gift_box", "Gift box", vec![]),
    ]
}

fn categories() -> Vec<NewCategory> {
    let c = |slug: &str, name: &str, parent: Option<&str>| NewCategory {
        slug: slug.into(),
        name: name.into(),
        parent: parent.map(str::to_owned),
    };
    vec![
        c("clothing", "Clothing", None),
        c("batik", "Batik", Some("clothing")),
        c("sarees", "Sarees", Some("clothing")),
        c("tea", "Ceylon tea", None),
        c("spices", "Spices", None),
        c("sweets", "Sweets", None),
        c("home", "Home", None),
        c("handloom", "Handloom", Some("home")),
        c("services", "Services", None),
        c("tailoring", "Tailoring", Some("services")),
        c("delivery", "Delivery slots", Some("services")),
        c("gifts", "Gift boxes", None),
    ]
}

fn attrs(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

fn variant(sku: String, price_minor: i64, attributes: BTreeMap<String, Value>) -> NewVariant {
    NewVariant {
        sku,
        price_minor,
        attributes,
        components: vec![],
        // Packed: a shirt, a saree or a pack of tea is about half a kilogram.
        weight_grams: 500,
    }
}

/// Rounds cents to whole tens of rupees, as shop prices are.
fn rupees(rng: &mut StdRng, low: i64, high: i64) -> i64 {
    rng.random_range(low..=high) / 10 * 1000
}

fn two<'a>(rng: &mut StdRng, from: &[&'a str]) -> Vec<&'a str> {
    let first = *from.choose(rng).expect("non-empty list");
    let second = *from.iter().find(|c| **c != first && rng.random_bool(0.5)).unwrap_or(&from[0]);
    if first == second { vec![first] } else { vec![first, second] }
}

/// Product number `i` of the demo shop. `tea` holds earlier tea variants for gift boxes.
fn product(i: usize, rng: &mut StdRng, tea: &[Uuid]) -> NewProduct {
    let motif = MOTIFS[i % MOTIFS.len()];
    let p = |name: String, description: String, kind, category: &str, product_type: &str, variants| NewProduct {
        name,
        description,
        kind,
        category: category.into(),
        product_type: product_type.into(),
        variants,
    };
    match i % 10 {
        0 | 1 => {
            let colours = two(rng, COLOURS);
            let price = rupees(rng, 3500, 7500);
            let variants = colours
                .iter()
                .flat_map(|c| SIZES.iter().map(move |s| (c, s)))
                .map(|(c, s)| {
                    let sku = format!("BTK-{i:05}-{s}-{}", &c[..3].to_uppercase());
                    variant(sku, price, attrs(&[("size", json!(s)), ("colour", json!(c))]))
                })
                .collect();
            p(
                format!("{motif} batik shirt, {}", colours.join(" and ").to_lowercase()),
                format!("Hand-waxed and dyed cotton batik shirt with the {motif} motif, made in Kandy. බතික් කමිසය · பத்திக் சட்டை"),
                ProductKind::Product,
                "batik",
                "shirt",
                variants,
            )
        }
        2 => {
            let fabric = FABRICS[i % FABRICS.len()];
            let variants = two(rng, COLOURS)
                .iter()
                .map(|c| {
                    let sku = format!("SAR-{i:05}-{}", &c[..3].to_uppercase());
                    variant(
                        sku,
                        rupees(rng, 8000, 45000),
                        attrs(&[("colour", json!(c)), ("fabric", json!(fabric))]),
                    )
                })
                .collect();
            p(
                format!("{motif} {} saree", fabric.to_lowercase()),
                format!(
                    "A six-yard {} saree woven with the {motif} border. සාරිය · சேலை",
                    fabric.to_lowercase()
                ),
                ProductKind::Product,
                "sarees",
                "saree",
                variants,
            )
        }
        3 | 4 => {
            let estate = ESTATES[i % ESTATES.len()];
            let flavour = TEAS[(i / 10) % TEAS.len()];
            let base = rupees(rng, 500, 900);
            let variants = [100, 200, 500]
                .iter()
                .map(|g| {
                    variant(
                        format!("TEA-{i:05}-{g}G"),
                        base * g / 100,
                        attrs(&[("flavour", json!(flavour)), ("weight", json!(g))]),
                    )
                })
                .collect();
            p(
                format!("{estate} {flavour} tea"),
                format!("High-grown {estate} leaf tea, {flavour}, packed at the estate. තේ කොළ · தேயிலை"),
                ProductKind::Product,
                "tea",
                "tea",
                variants,
            )
        }
        5 => {
            let spice = SPICES[(i / 10) % SPICES.len()];
            let base = rupees(rng, 200, 600);
            let variants = [50, 100, 250]
                .iter()
                .map(|g| variant(format!("SPC-{i:05}-{g}G"), base * g / 50, attrs(&[("weight", json!(g))])))
                .collect();
            p(
                format!("{spice} from Matale"),
                format!("{spice}, sun-dried in Matale. කුළුබඩු · மசாலா"),
                ProductKind::Product,
                "spices",
                "spice",
                variants,
            )
        }
        6 => {
            let flavours = two(rng, SWEETS);
            let variants = flavours
                .iter()
                .map(|f| {
                    variant(
                        format!("SWT-{i:05}-{}", &f[..3].to_uppercase()),
                        rupees(rng, 500, 1500),
                        attrs(&[("flavour", json!(f))]),
                    )
                })
                .collect();
            p(
                format!("Avurudu sweets box: {}", flavours.join(" and ")),
                "Traditional sweets for the Sinhala and Tamil New Year, made to order. අවුරුදු රසකැවිලි · புத்தாண்டு இனிப்புகள்".into(),
                ProductKind::Product,
                "sweets",
                "sweets",
                variants,
            )
        }
        7 => {
            let colour = COLOURS[i % COLOURS.len()];
            let variants = LINEN
                .iter()
                .map(|s| {
                    let sku = format!("HLM-{i:05}-{}", &s[..3].to_uppercase());
                    variant(
                        sku,
                        rupees(rng, 2500, 12000),
                        attrs(&[("colour", json!(colour)), ("size", json!(s))]),
                    )
                })
                .collect();
            p(
                format!("{motif} handloom bedspread in {}", colour.to_lowercase()),
                format!("{colour} handloom cotton from Dumbara weavers. අත්යන්ත්‍ර ඇඳ ඇතිරිල්ල · கைத்தறிப் படுக்கை விரிப்பு"),
                ProductKind::Product,
                "handloom",
                "handloom",
                variants,
            )
        }
        8 => {
            let variants = GARMENTS
                .iter()
                .map(|g| {
                    let sku = format!("TLR-{i:05}-{}", &g[..3].to_uppercase());
                    variant(sku, rupees(rng, 1500, 6000), attrs(&[("garment", json!(g))]))
                })
                .collect();
            p(
                format!("Tailoring by {motif} Tailors"),
                "Made-to-measure tailoring; a fitting booking is one unit.".into(),
                ProductKind::Service,
                "tailoring",
                "tailoring",
                variants,
            )
        }
        _ if i % 100 == 99 && tea.len() >= 3 => {
            let components = tea
                .choose_multiple(rng, 3)
                .map(|v| BundleComponent {
                    variant_id: *v,
                    quantity: 1,
                })
                .collect();
            p(
                format!("{motif} tea gift box"),
                "Three Ceylon teas in a hand-painted box.".into(),
                ProductKind::Bundle,
                "gifts",
                "gift_box",
                vec![NewVariant {
                    sku: format!("GFT-{i:05}"),
                    price_minor: rupees(rng, 2500, 5000),
                    attributes: BTreeMap::new(),
                    components,
                    weight_grams: 900,
                }],
            )
        }
        _ => {
            let area = AREAS[i % AREAS.len()];
            let variants = SLOTS
                .iter()
                .map(|s| {
                    let sku = format!("DLV-{i:05}-{}", &s[..3].to_uppercase());
                    variant(
                        sku,
                        rupees(rng, 350, 900),
                        attrs(&[("slot", json!(s)), ("area", json!(area))]),
                    )
                })
                .collect();
            p(
                format!("{area} delivery slot"),
                format!("Home delivery in {area}, within the chosen part of the day."),
                ProductKind::Service,
                "delivery",
                "delivery_slot",
                variants,
            )
        }
    }
}

/// Which picture shows `product`: its kind's, in its first variant's colour.
fn picture_of(product: &NewProduct) -> (Motif, &'static str) {
    let motif = match product.category.as_str() {
        "batik" => Motif::Batik,
        "sarees" => Motif::Saree,
        "tea" => Motif::Tea,
        "spices" => Motif::Spice,
        "sweets" => Motif::Sweets,
        "handloom" => Motif::Handloom,
        "gifts" => Motif::Gift,
        _ => Motif::Service,
    };
    let colour = product
        .variants
        .first()
        .and_then(|v| v.attributes.get("colour"))
        .and_then(|c| c.as_str())
        .and_then(|c| COLOURS.iter().copied().find(|known| *known == c))
        .unwrap_or(match motif {
            Motif::Tea | Motif::Gift => "Forest green",
            Motif::Spice | Motif::Sweets => "Saffron",
            _ => "Sea blue",
        });
    (motif, colour)
}

/// What a drawn picture shows, in the shop's three languages.
fn alt_text(motif: Motif) -> AltText {
    let (en, si, ta) = match motif {
        Motif::Batik => (
            "Batik cloth with wax-resist waves",
            "ඉටි රටා සහිත බතික් රෙද්ද",
            "மெழுகு அலை வடிவப் பத்திக் துணி",
        ),
        Motif::Saree => ("A saree with a woven border", "වියන ලද දාරයක් සහිත සාරියක්", "நெய்த கரையுடன் ஒரு சேலை"),
        Motif::Tea => ("Tea terraces on a hill", "කඳු බෑවුමක තේ වගාව", "மலைச்சரிவில் தேயிலைத் தோட்டம்"),
        Motif::Spice => (
            "A heap of spices on a woven tray",
            "වියන ලද තැටියක කුළුබඩු ගොඩක්",
            "நெய்த தட்டில் மசாலாக் குவியல்",
        ),
        Motif::Sweets => ("Kavum and kokis on a plate", "පිඟානක කැවුම් සහ කොකිස්", "தட்டில் கவும், கொக்கிஸ்"),
        Motif::Handloom => ("Handloom cloth in checks", "කොටු රටා අත්යන්ත්‍ර රෙද්ද", "கட்டக் கைத்தறித் துணி"),
        Motif::Gift => (
            "A painted gift box with a ribbon",
            "පීත්ත පටියක් සහිත තෑගි පෙට්ටියක්",
            "நாடாவுடன் வண்ணப் பரிசுப் பெட்டி",
        ),
        Motif::Service => ("The service's colours", "සේවාවේ වර්ණ", "சேவையின் நிறங்கள்"),
    };
    AltText {
        en: en.into(),
        si: si.into(),
        ta: ta.into(),
    }
}

/// Seeds the demo shop with `count` products, unless the catalog has products already.
pub async fn demo(catalog: &Catalog, inventory: &Inventory, config: &Config, count: usize) -> anyhow::Result<()> {
    let existing = pola_catalog::store::count_products(catalog.pool()).await?;
    if existing > 0 {
        println!("the catalog has {existing} products already; not seeding");
        return Ok(());
    }
    let err = |e: pola_core::Error| anyhow::anyhow!("{e}");
    for t in types() {
        catalog.create_product_type(None, &t).await.map_err(err)?;
    }
    for c in categories() {
        catalog.create_category(None, &c).await.map_err(err)?;
    }
    let bar = ProgressBar::new(count as u64).with_style(
        ProgressStyle::with_template("{spinner} seeding [{bar:40}] {pos}/{len} products, {per_sec}, {eta} left")?
            .progress_chars("=> "),
    );
    let mut rng = StdRng::seed_from_u64(94);
    let mut tea: Vec<Uuid> = vec![];
    let home = config.inventory.default_location.clone();
    let mut variants_total = 0;
    let mut pictures: HashMap<(Motif, &'static str), String> = HashMap::new();
    for start in (0..count).step_by(BATCH) {
        let products: Vec<NewProduct> = (start..(start + BATCH).min(count))
            .map(|i| product(i, &mut rng, &tea))
            .collect();
        let ids: Vec<Vec<Uuid>> = products
            .iter()
            .map(|p| p.variants.iter().map(|_| pola_core::new_id()).collect())
            .collect();
        let product_ids = catalog.seed_products(&products, &ids).await.map_err(err)?;
        let mut shown = vec![];
        for (product, id) in products.iter().zip(&product_ids) {
            let (motif, colour) = picture_of(product);
            let hash = match pictures.get(&(motif, colour)) {
                Some(hash) => hash.clone(),
                None => {
                    let png = crate::pictures::draw(motif, crate::pictures::colour(colour));
                    let hash = catalog.upload_image(png).await.map_err(err)?.hash;
                    pictures.insert((motif, colour), hash.clone());
                    hash
                }
            };
            shown.push((*id, hash, alt_text(motif)));
        }
        catalog.seed_images(&shown).await.map_err(err)?;
        let mut stock = vec![];
        for (p, ids) in products.iter().zip(&ids) {
            if p.kind == ProductKind::Bundle {
                continue;
            }
            for id in ids {
                let on_hand = if rng.random_bool(0.1) { 0 } else { rng.random_range(1..=120) };
                stock.push((*id, home.clone(), on_hand));
                if rng.random_bool(0.5) {
                    stock.push((*id, "kandy".to_owned(), rng.random_range(0..=40)));
                }
                if p.product_type == "tea" {
                    tea.push(*id);
                }
            }
        }
        pola_inventory::store::seed_stock(inventory.pool(), &stock).await?;
        variants_total += ids.iter().map(Vec::len).sum::<usize>();
        bar.inc(products.len() as u64);
    }
    bar.finish();
    println!("seeded {count} products with {variants_total} variants");
    Ok(())
}
