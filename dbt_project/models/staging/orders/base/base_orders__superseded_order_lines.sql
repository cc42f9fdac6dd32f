{{ superseded_deliveries(source('orders', 'order_lines'), ['order_id', 'line_number']) }}
