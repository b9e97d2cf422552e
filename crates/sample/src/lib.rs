//! Synthetic temple data with a fixed seed: the same seed gives the same documents, so the
//! demo, the tests and the benchmarks can all rely on it.

use bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FIRST: &[&str] = &[
    "Ravi", "Priya", "Lakshmi", "Arjun", "Meena", "Suresh", "Kavya", "Ganesh", "Anita", "Vikram",
    "Deepa", "Mohan", "Sita", "Karthik", "Radha", "Harish", "Uma", "Srinivas", "Padma", "Naveen",
];
const LAST: &[&str] = &[
    "Iyer", "Rao", "Sharma", "Nair", "Reddy", "Pillai", "Menon", "Gupta", "Bhat", "Joshi",
];
const RITUALS: &[(&str, i64)] = &[
    ("Archana", 51),
    ("Abhishekam", 501),
    ("Sahasranama", 251),
    ("Homa", 2001),
    ("Kalyanotsavam", 5001),
    ("Satyanarayana Puja", 1116),
    ("Rudrabhishekam", 1501),
    ("Annadanam", 10001),
];
const EVENTS: &[&str] = &[
    "Diwali Deepotsava",
    "Navaratri Utsav",
    "Ganesh Chaturthi",
    "Maha Shivaratri",
    "Rama Navami",
    "Krishna Janmashtami",
    "Ugadi",
    "Pongal",
    "Karthika Deepam",
    "Vaikunta Ekadasi",
];
const STATUSES: &[&str] = &[
    "confirmed",
    "confirmed",
    "confirmed",
    "pending",
    "completed",
    "cancelled",
];

/// Mid-2025, so that generated times look like a real office's history.
const EPOCH_MS: i64 = 1_750_000_000_000;

pub struct Generator {
    rng: ChaCha8Rng,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn oid(&mut self, at_ms: i64) -> ObjectId {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&((at_ms / 1000) as u32).to_be_bytes());
        self.rng.fill(&mut b[4..]);
        ObjectId::from_bytes(b)
    }

    fn when(&mut self) -> i64 {
        EPOCH_MS + self.rng.random_range(0..90 * 86_400_000_i64)
    }

    fn name(&mut self) -> String {
        format!("{} {}", self.pick(FIRST), self.pick(LAST))
    }

    fn phone(&mut self) -> String {
        format!("+91 9{:09}", self.rng.random_range(0..1_000_000_000_u64))
    }

    /// An admin account as the Temple Management System stores it.
    pub fn admin(&mut self, username: &str) -> Document {
        let at = self.when();
        let name = self.name();
        doc! {
            "_id": self.oid(at),
            "username": username,
            "name": name,
            "email": format!("{username}@temple.example"),
            "role": if self.rng.random_bool(0.2) { "superadmin" } else { "admin" },
            "hashedPassword": format!("$2b$12${:053x}", self.rng.random::<u128>()),
            "isActive": true,
            "createdAt": DateTime::from_millis(at),
            "updatedAt": DateTime::from_millis(at),
            "syncedAt": Bson::Null,
            "origin": "local",
            "syncStatus": "pending",
        }
    }

    /// A ritual booking by a devotee.
    pub fn booking(&mut self) -> Document {
        let at = self.when();
        let (ritual, price) = RITUALS[self.rng.random_range(0..RITUALS.len())];
        let people = self.rng.random_range(1..6);
        let devotee = self.name();
        let phone = self.phone();
        let gothra = self
            .pick(&["Kashyapa", "Bharadwaja", "Vasishta", "Atri", "Gautama"])
            .to_string();
        doc! {
            "_id": self.oid(at),
            "devoteeName": devotee,
            "phone": phone,
            "ritual": ritual,
            "date": DateTime::from_millis(at + self.rng.random_range(0..30 * 86_400_000_i64)),
            "people": people,
            "amount": price * people as i64,
            "status": self.pick(STATUSES),
            "gothra": gothra,
            "nakshatra": self.pick(&["Ashwini", "Rohini", "Pushya", "Magha", "Hasta", "Swati", "Revati"]),
            "notes": if self.rng.random_bool(0.3) { "Please call before the ritual" } else { "" },
            "createdAt": DateTime::from_millis(at),
            "updatedAt": DateTime::from_millis(at),
            "syncedAt": Bson::Null,
            "origin": "local",
            "syncStatus": "pending",
        }
    }

    /// A temple event.
    pub fn event(&mut self) -> Document {
        let at = self.when();
        let title = self.pick(EVENTS);
        doc! {
            "_id": self.oid(at),
            "title": title,
            "description": format!("{title} celebrations with special poojas and prasadam for all devotees."),
            "startDate": DateTime::from_millis(at),
            "endDate": DateTime::from_millis(at + 86_400_000),
            "location": self.pick(&["Main hall", "Temple courtyard", "Annadanam hall"]),
            "capacity": self.rng.random_range(50..2000),
            "createdAt": DateTime::from_millis(at),
            "updatedAt": DateTime::from_millis(at),
            "syncedAt": Bson::Null,
            "origin": "local",
            "syncStatus": "pending",
        }
    }

    pub fn bookings(&mut self, n: usize) -> Vec<Document> {
        (0..n).map(|_| self.booking()).collect()
    }

    pub fn events(&mut self, n: usize) -> Vec<Document> {
        (0..n).map(|_| self.event()).collect()
    }
}

/// The demo: what the office PC has and what the cloud has, with one username taken on
/// both sides by different people.
pub struct Demo {
    pub local: Vec<(&'static str, Vec<Document>)>,
    pub cloud: Vec<(&'static str, Vec<Document>)>,
}

pub fn demo(seed: u64) -> Demo {
    let mut g = Generator::new(seed);
    let local_admins = vec![g.admin("priya_office"), g.admin("john_admin")];
    let mut cloud_admins = vec![g.admin("ravi_trustee"), g.admin("john_admin")];
    for a in &mut cloud_admins {
        a.insert("origin", "remote");
    }
    Demo {
        local: vec![
            ("admins", local_admins),
            ("bookings", g.bookings(12)),
            ("events", g.events(3)),
        ],
        cloud: vec![
            ("admins", cloud_admins),
            ("bookings", g.bookings(5)),
            ("events", g.events(2)),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_data() {
        assert_eq!(Generator::new(7).bookings(5), Generator::new(7).bookings(5));
        assert_ne!(Generator::new(7).bookings(5), Generator::new(8).bookings(5));
    }

    #[test]
    fn the_demo_has_exactly_one_username_clash() {
        let d = demo(1);
        let names = |side: &Vec<(&str, Vec<Document>)>| -> Vec<String> {
            side[0]
                .1
                .iter()
                .map(|a| a.get_str("username").unwrap().to_string())
                .collect()
        };
        let (l, c) = (names(&d.local), names(&d.cloud));
        assert_eq!(l.iter().filter(|n| c.contains(n)).count(), 1);
    }
}
