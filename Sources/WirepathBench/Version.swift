/// Wirepath's own version: `--version`, and the report's environment records it.
public enum Wirepath {
    public static let version = "0.1.0"
}
