public enum SharedVersion { public static let string = "0.1.0" }
