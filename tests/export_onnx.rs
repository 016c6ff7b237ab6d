//! The ONNX back-end (`avc::export::onnx`, issue 25): tests land here.
