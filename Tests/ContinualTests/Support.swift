import Datasets
import Foundation
@testable import Continual

/// The repository root, found from this file's path so the tests run in any clone.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The committed mnist-mini dataset (5,000 train / 1,000 test images), loaded once.
let mnistMini: Dataset = {
    do {
        return try Dataset.load(repositoryRoot + "/datasets/mnist-mini", dataDirectory: nil, environment: [:], verifyChecksums: true)
    } catch {
        fatalError("the committed dataset datasets/mnist-mini cannot be loaded: \(error)")
    }
}()

/// The component sets the compose tests try, bounded so they do not double with every component
/// added: every subset of the registry's first eight components (`ewc` … `l2`, exhaustively, 2^8),
/// and every set of one or two components that holds a later one (each later component alone and
/// beside every other component).
func composeTestSets() -> [[ComponentKey]] {
    let all = ComponentKey.allCases, first = Array(all.prefix(8)), later = Array(all.dropFirst(8))
    var sets = (0..<(1 << first.count)).map { mask in first.indices.filter { mask & (1 << $0) != 0 }.map { first[$0] } }
    for (i, key) in later.enumerated() {
        sets.append([key])
        for other in first + later.prefix(i) { sets.append(ComponentRegistry.standard.ordered([other, key])) }
    }
    return sets
}
