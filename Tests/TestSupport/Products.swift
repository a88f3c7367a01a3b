import Foundation

/// Where the package's built products are: the test bundle's directory, or the nearest
/// directory above it that holds `name` (SwiftPM puts executables beside the bundle).
public func builtProductsDirectory(containing name: String) -> URL {
    let executable =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path)
        && directory.path != "/"
    {
        directory.deleteLastPathComponent()
    }
    return directory
}

/// The built executable `name` (see ``builtProductsDirectory(containing:)``).
public func builtProduct(_ name: String) -> URL {
    builtProductsDirectory(containing: name).appendingPathComponent(name)
}
