//! SplitMix64 (Steele, Lea and Flood 2014), the one seed-mixing function: training's batch
//! streams, random crops and dropout masks all draw from it, so "the same seed gives the
//! same run" rests on one piece of code.

/// SplitMix64's increment (the golden ratio in 64 bits): `finish(key + i * GAMMA)` for
/// `i = 1, 2, ...` is its sequence from `key`.
pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// A second odd constant, for a second coordinate.
const GAMMA_2: u64 = 0xD1B5_4A32_D192_ED03;

/// SplitMix64's output function: 64 well-mixed bits from any 64.
pub fn finish(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An independent random number for each (seed, a, b): training's (epoch, batch) streams,
/// a crop's (epoch, clip) offset. Callers that must not share streams salt the seed.
pub fn at(seed: u64, a: u64, b: u64) -> u64 {
    finish(seed ^ a.wrapping_mul(GAMMA) ^ b.wrapping_mul(GAMMA_2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64's published sequence from seed 0 (the reference implementation's first
    /// outputs), so the constants cannot drift.
    #[test]
    fn matches_the_reference_sequence() {
        let first: Vec<u64> = (1..=3).map(|i: u64| finish(i.wrapping_mul(GAMMA))).collect();
        assert_eq!(first, [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]);
    }

    #[test]
    fn each_coordinate_changes_the_number() {
        let base = at(1, 2, 3);
        assert!([at(2, 2, 3), at(1, 3, 3), at(1, 2, 4), at(1, 3, 2)].iter().all(|&x| x != base));
    }
}
