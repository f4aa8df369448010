/// torchvision's `center_crop` placement along one axis of the resized image.
struct CropAxis {
    /// Index in the resized image of the first cropped sample (negative when padding).
    let start: Int
    /// The cropped samples that exist in the resized image, in crop coordinates; the rest
    /// are torchvision's zero padding.
    let inside: Range<Int>

    init(size: Int, crop: Int) {
        if crop > size {
            // torchvision pads (crop - size) // 2 before and the rest after, then crops at 0.
            let before = (crop - size) / 2
            start = -before
            inside = before..<(before + size)
        } else {
            // int(round((size - crop) / 2.0)): Python rounds halves to even.
            start = Int((Double(size - crop) / 2.0).rounded(.toNearestOrEven))
            inside = 0..<crop
        }
    }

    /// The resized-image indices the crop keeps.
    var sourceRange: Range<Int> { (start + inside.lowerBound)..<(start + inside.upperBound) }
}
